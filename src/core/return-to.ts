/**
 * A `return_to` is a path on this server: one `/` not followed by `/` or `\`, so that browsers can
 * never read it as another origin. Control characters are refused too, since some browsers drop them.
 */
export function isSafeReturnTo(value: string): boolean {
  if (!value.startsWith('/')) return false;
  const second = value.charAt(1);
  if (second === '/' || second === '\\') return false;
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x1f\x7f]/.test(value);
}

const encoder = new TextEncoder();

/**
 * A path or URL made fit for a Location header: anything a URI may not hold as it is (spaces,
 * Unicode, and `"<>^`{|}`, RFC 3986 §2) is percent-encoded as UTF-8, as a browser would send it. A
 * backslash is kept: browsers read it as `/`, and a return_to was checked as they read it.
 * Existing `%XX` sequences are kept.
 */
export function locationHeaderValue(target: string): string {
  return target.replace(/[^\x21-\x7e]|["<>^`{|}]/gu, (char) => [...encoder.encode(char)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}
