/** Characters outside the set RFC 6749 §5.2 allows in `error_description` (%x20-21 / %x23-5B / %x5D-7E). */
const OUTSIDE_DESCRIPTION_SET = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/** A description as RFC 6749 §5.2 allows it: quotes become apostrophes, anything else outside the set `?`. */
export function errorText(text: string): string {
  return text.replace(/"/g, "'").replace(/\\/g, '/').replace(/§/g, 'section ').replace(OUTSIDE_DESCRIPTION_SET, '?');
}

/** Client input named in an error: shortened and quoted, so that no hostile text is echoed whole. */
export function quoted(input: string, max = 40): string {
  const shown = input.length > max ? `${input.slice(0, max)}...` : input;
  return `'${errorText(shown).replace(/'/g, '?')}'`;
}

/**
 * One error type per RFC error code (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1,
 * RFC 8707 §2, OpenID Connect Core §3.1.2.6). Each carries the HTTP status it is answered with; the
 * HTTP layer turns any of them into a §5.2 JSON body with `Cache-Control: no-store`.
 */
export abstract class OAuthError extends Error {
  abstract readonly error: string;
  readonly status: number = 400;
  readonly description: string;
  constructor(description: string) {
    const text = errorText(description);
    super(text);
    this.description = text;
  }
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.description };
  }
}

export class InvalidRequest extends OAuthError {
  readonly error = 'invalid_request';
}

/** Client authentication failed: 401, with a `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2, RFC 9110 §15.5.2). */
export class InvalidClient extends OAuthError {
  readonly error = 'invalid_client';
  override readonly status = 401;
}

export class InvalidGrant extends OAuthError {
  readonly error = 'invalid_grant';
}

export class UnauthorizedClient extends OAuthError {
  readonly error = 'unauthorized_client';
}

export class UnsupportedGrantType extends OAuthError {
  readonly error = 'unsupported_grant_type';
}

export class UnsupportedResponseType extends OAuthError {
  readonly error = 'unsupported_response_type';
}

export class UnsupportedTokenType extends OAuthError {
  readonly error = 'unsupported_token_type';
}

export class InvalidScope extends OAuthError {
  readonly error = 'invalid_scope';
}

export class InvalidTarget extends OAuthError {
  readonly error = 'invalid_target';
}

export class AccessDenied extends OAuthError {
  readonly error = 'access_denied';
  override readonly status = 403;
}

export class LoginRequired extends OAuthError {
  readonly error = 'login_required';
}

export class ConsentRequired extends OAuthError {
  readonly error = 'consent_required';
}

export class ServerError extends OAuthError {
  readonly error = 'server_error';
  override readonly status = 500;
}

/** RFC 6750 §3.1: the bearer token is missing, expired, revoked or malformed. */
export class InvalidToken extends OAuthError {
  readonly error = 'invalid_token';
  override readonly status = 401;
}

/** RFC 6750 §3.1: the token is valid but lacks a scope the resource needs. */
export class InsufficientScope extends OAuthError {
  readonly error = 'insufficient_scope';
  override readonly status = 403;
  constructor(description: string, readonly requiredScopes: string[]) {
    super(description);
  }
}

/**
 * The server cannot serve the request now (RFC 6749 §4.1.2.1's code), with `Retry-After`: 429 for
 * too many failed attempts from one client or address (RFC 6585 §4), 503 while the database is
 * unreachable or the server shuts down.
 */
export class TemporarilyUnavailable extends OAuthError {
  readonly error = 'temporarily_unavailable';
  constructor(
    description: string,
    readonly retryAfterSeconds: number,
    override readonly status: 429 | 503 = 429,
  ) {
    super(description);
  }
}
