const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A registrable redirect URI: absolute, https (or http on a loopback host, for native apps and
 * development), no fragment (RFC 6749 §3.1.2), no user info.
 */
export function checkRedirectUri(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.hash !== '' || uri.includes('#')) return 'must not contain a fragment';
  if (url.username || url.password) return 'must not contain user information';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  return 'must use https, or http on localhost, 127.0.0.1 or [::1]';
}

/** An http loopback URI split around its port: `http://127.0.0.1:8080/cb` → `http://127.0.0.1` + `/cb`. */
const LOOPBACK_URI = /^(http:\/\/(?:localhost|127\.0\.0\.1|\[::1\]))(?::[0-9]{1,5})?([/?].*)?$/s;

/** The URI with a loopback port taken out, character for character otherwise; undefined when not loopback. */
function withoutLoopbackPort(uri: string): string | undefined {
  const match = LOOPBACK_URI.exec(uri);
  return match ? match[1]! + (match[2] ?? '') : undefined;
}

/**
 * A loopback redirect URI matches with any port (RFC 8252 §7.3): native apps listen on whatever
 * port the system gives them. Everything else is compared as text, exactly.
 */
function loopbackMatch(registered: string, requested: string): boolean {
  const a = withoutLoopbackPort(registered);
  return a !== undefined && a === withoutLoopbackPort(requested);
}

/**
 * Redirect URIs match exactly, character for character (RFC 9700 §4.1.3), except for the port of a
 * loopback one (RFC 8252 §7.3).
 */
export function matchRedirectUri(registered: readonly string[], requested: string): boolean {
  return registered.includes(requested) || registered.some((uri) => loopbackMatch(uri, requested));
}

/** Appends parameters to a redirect URI, keeping the query it was registered with (RFC 6749 §3.1.2). */
export function withParams(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.append(name, value);
  }
  return url.href;
}
