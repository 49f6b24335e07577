const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** A template tag that escapes every interpolated value unless it is already `Html`. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const rendered = Array.isArray(value)
      ? value.map((v) => (v instanceof Html ? v.text : escapeHtml(String(v)))).join('')
      : value instanceof Html
        ? value.text
        : escapeHtml(String(value ?? ''));
    out += rendered + strings[i + 1]!;
  });
  return new Html(out);
}

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
  body { margin: 0; display: flex; justify-content: center; padding: 3rem 1rem; background: Canvas; color: CanvasText; }
  main { width: 100%; max-width: 26rem; }
  h1 { font-size: 1.4rem; margin: 0 0 1rem; }
  label { display: block; margin: .8rem 0 .3rem; font-weight: 600; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .55rem; font-size: 1rem; }
  button { padding: .55rem 1.1rem; font-size: 1rem; margin: 1rem .5rem 0 0; cursor: pointer; }
  .error { border-left: 4px solid #c62828; padding: .5rem .8rem; background: rgba(198,40,40,.08); }
  .muted { opacity: .75; font-size: .9rem; }
  ul.scopes li { margin: .35rem 0; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .4rem .3rem; border-bottom: 1px solid rgba(128,128,128,.3); vertical-align: top; }
`;

export function page(title: string, body: Html): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Latchkey</title><style>${STYLE}</style></head>
<body><main>${body.text}</main></body></html>`;
}
