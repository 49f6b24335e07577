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
