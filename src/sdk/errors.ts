export interface ErrorBody {
  error?: string;
  error_description: string;
}

/**
 * The answers a protected API gives when a request's access token is refused (RFC 6750 §3). Each error
 * knows its HTTP status, its full `WWW-Authenticate` value and its JSON body, so every framework
 * adapter answers identically. Descriptions are fixed texts written here: they never contain the token.
 */
export abstract class ResourceServerError extends Error {
  abstract readonly status: number;
  /** The RFC 6750 error code; absent when the request carried no bearer token at all (§3.1). */
  abstract readonly error: string | undefined;

  constructor(
    readonly description: string,
    readonly realm: string,
    options?: ErrorOptions,
  ) {
    super(description, options);
    this.name = new.target.name;
  }

  get wwwAuthenticate(): string {
    return formatChallenge(this.realm, this.challengeParams());
  }

  /** The response body; like the challenge, it has no `error` member when there is no error code. */
  toJSON(): ErrorBody {
    return this.error === undefined
      ? { error_description: this.description }
      : { error: this.error, error_description: this.description };
  }

  protected challengeParams(): Record<string, string> {
    return this.error === undefined ? {} : { error: this.error, error_description: this.description };
  }
}

/**
 * No bearer token, or credentials of another scheme: RFC 6750 §3.1 says to answer with the bare
 * challenge and no error code, since the client may simply not know the API needs a token.
 */
export class MissingTokenError extends ResourceServerError {
  readonly status = 401;
  readonly error = undefined;
}

/** RFC 6750 §3.1: the token is malformed, expired, revoked, badly signed or meant for someone else. */
export class InvalidTokenError extends ResourceServerError {
  readonly status = 401;
  readonly error = 'invalid_token';
}

/** RFC 6750 §3.1: the token is valid but lacks a scope this resource needs; the challenge names them. */
export class InsufficientScopeError extends ResourceServerError {
  readonly status = 403;
  readonly error = 'insufficient_scope';

  constructor(
    description: string,
    realm: string,
    readonly requiredScopes: readonly string[],
  ) {
    super(description, realm);
  }

  protected override challengeParams(): Record<string, string> {
    return { ...super.challengeParams(), scope: this.requiredScopes.join(' ') };
  }
}

/**
 * The token could not be checked because the issuer's JWKS or introspection endpoint failed. The
 * request is refused (fail closed) with 503 rather than 401, so clients retry instead of discarding a
 * token that may be perfectly good. The underlying failure is kept as `cause` for the API's logs.
 */
export class TemporarilyUnavailableError extends ResourceServerError {
  readonly status = 503;
  readonly error = 'temporarily_unavailable';

  // Not an RFC 6750 error code, so the challenge stays bare; the code is in the JSON body.
  protected override challengeParams(): Record<string, string> {
    return {};
  }
}

function formatChallenge(realm: string, params: Record<string, string>): string {
  const all = { realm, ...params };
  return `Bearer ${Object.entries(all)
    .map(([name, value]) => `${name}="${quotable(value)}"`)
    .join(', ')}`;
}

/** RFC 6750 §3 allows only %x20-21 / %x23-5B / %x5D-7E inside these quoted values. */
function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
}
