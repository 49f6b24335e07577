import { InvalidScope, quoted } from './errors.js';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function isValidScopeToken(scope: string): boolean {
  return SCOPE_TOKEN.test(scope);
}

/** Splits a `scope` parameter into distinct scope tokens, refusing malformed ones. */
export function parseScopeParam(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const tokens = value.split(' ').filter((t) => t !== '');
  for (const token of tokens) {
    if (!isValidScopeToken(token)) throw new InvalidScope('scope contains characters outside RFC 6749 section 3.3');
  }
  return [...new Set(tokens)];
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}

/**
 * Decides the scopes of a new grant or token: what was requested, each of which must be both defined
 * by the API and allowed for the client; with nothing requested, everything the client may have at
 * that API. An empty result is refused, since a token that grants nothing is a client mistake.
 */
export function grantScopes(requested: string[] | undefined, clientScopes: readonly string[], apiScopes: readonly string[]): string[] {
  const api = new Set(apiScopes);
  const client = new Set(clientScopes);
  if (requested === undefined) {
    const all = clientScopes.filter((s) => api.has(s));
    if (all.length === 0) throw new InvalidScope('the client is allowed no scope of this API');
    return all;
  }
  for (const scope of requested) {
    if (!api.has(scope)) throw new InvalidScope(`scope ${quoted(scope)} is not defined by this API`);
    if (!client.has(scope)) throw new InvalidScope(`the client is not allowed scope ${quoted(scope)}`);
  }
  if (requested.length === 0) throw new InvalidScope('no scope requested');
  return requested;
}

/** RFC 6749 §6: a refresh may narrow the scope of its grant but never widen it. */
export function narrowScopes(requested: string[] | undefined, granted: readonly string[]): string[] {
  if (requested === undefined) return [...granted];
  const allowed = new Set(granted);
  for (const scope of requested) {
    if (!allowed.has(scope)) throw new InvalidScope(`scope ${quoted(scope)} was not granted originally`);
  }
  if (requested.length === 0) throw new InvalidScope('no scope requested');
  return requested;
}

/** Every scope in `needed` is in `granted`. */
export function coversScopes(granted: readonly string[], needed: readonly string[]): boolean {
  const set = new Set(granted);
  return needed.every((s) => set.has(s));
}
