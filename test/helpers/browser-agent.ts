import { expect } from 'vitest';

/**
 * A minimal browser over fetch: a cookie jar, manual redirects, and form submission by field name.
 * It drives login and consent over raw HTTP; the Chromium tests drive the same pages for real.
 */
export class BrowserAgent {
  private readonly cookies = new Map<string, string>();

  constructor(readonly base: string) {}

  private absorb(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  async get(path: string): Promise<Response> {
    const response = await fetch(new URL(path, this.base), { redirect: 'manual', headers: { cookie: this.cookieHeader() } });
    this.absorb(response);
    return response;
  }

  async post(path: string, fields: Record<string, string>): Promise<Response> {
    const response = await fetch(new URL(path, this.base), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    this.absorb(response);
    return response;
  }

  /** Follows same-origin redirects; stops at (and returns) the first one that leaves the server. */
  async follow(response: Response): Promise<{ response: Response; external?: URL }> {
    let current = response;
    for (let hops = 0; hops < 10 && current.status >= 300 && current.status < 400; hops++) {
      const target = new URL(current.headers.get('location')!, this.base);
      if (target.origin !== new URL(this.base).origin) return { response: current, external: target };
      current = await this.get(target.pathname + target.search);
    }
    return { response: current };
  }

  /** Submits the form on `html` that has a field named `marker`, with `fields` filled in. */
  async submitForm(html: string, action: string, fields: Record<string, string>): Promise<Response> {
    const hidden: Record<string, string> = {};
    for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      hidden[match[1]!] = unescapeHtml(match[2]!);
    }
    return this.post(action, { ...hidden, ...fields });
  }

  /**
   * Runs an authorization request through login and consent as a user would, and returns the
   * redirect back to the client.
   */
  async authorize(authorizationUrl: URL, user: { username: string; password: string }, decision: 'approve' | 'deny' = 'approve'): Promise<URL> {
    let step = await this.follow(await this.get(authorizationUrl.pathname + authorizationUrl.search));
    if (step.external) return step.external;
    let body = await step.response.text();
    if (body.includes('name="password"')) {
      step = await this.follow(await this.submitForm(body, '/login', { username: user.username, password: user.password }));
      if (step.external) return step.external;
      body = await step.response.text();
    }
    expect(body, 'expected the consent page').toContain('name="decision"');
    const consent = await this.follow(await this.submitForm(body, '/consent', { decision }));
    expect(consent.external, 'consent should redirect to the client').toBeDefined();
    return consent.external!;
  }
}

function unescapeHtml(value: string): string {
  return value.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
