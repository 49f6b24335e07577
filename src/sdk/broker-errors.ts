/**
 * What the broker client throws. Callers branch with `instanceof` on the kind of failure and may read
 * `code` for the broker's exact word (a `ConflictError` is `provider_in_use` or `conflict`, say).
 * Messages are the broker's `error_description` or a fixed text written here: never the API key, a
 * token or a raw response body.
 */
export class LatchkeyError extends Error {
  constructor(
    /** The broker's `error` code, or one of the client's own (`timeout`, `unexpected_response`...). */
    readonly code: string,
    /** The HTTP status; 0 when no HTTP answer arrived (see `LatchkeyConnectionError`). */
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 401: the API key is missing, wrong or deleted. */
export class UnauthorizedError extends LatchkeyError {
  constructor(message: string, code = 'unauthorized') {
    super(code, 401, message);
  }
}

/** 403: the caller may not do this (a browser session calling an API-key endpoint, another user's id). */
export class ForbiddenError extends LatchkeyError {
  constructor(message: string, code = 'forbidden') {
    super(code, 403, message);
  }
}

/** 404: no such provider, connection or webhook. */
export class NotFoundError extends LatchkeyError {
  constructor(message: string, code = 'not_found') {
    super(code, 404, message);
  }
}

/** 400: the broker refused the request's parameters or body. */
export class InvalidRequestError extends LatchkeyError {
  constructor(message: string, code = 'invalid_request') {
    super(code, 400, message);
  }
}

/** 409: the connection's refresh token was refused by the provider; the user must authorize again. */
export class NeedsReauthError extends LatchkeyError {
  constructor(message: string) {
    super('needs_reauth', 409, message);
  }
}

/** 409: a portal connection whose customer has not authorized yet. */
export class PendingError extends LatchkeyError {
  constructor(message: string) {
    super('pending', 409, message);
  }
}

/** Any other 409, such as `provider_in_use` when deleting a provider that still has connections. */
export class ConflictError extends LatchkeyError {
  constructor(message: string, code = 'conflict') {
    super(code, 409, message);
  }
}

/** 503: the provider did not answer in time; the connection stays active, so retrying later is right. */
export class ProviderUnavailableError extends LatchkeyError {
  constructor(message: string) {
    super('provider_unavailable', 503, message);
  }
}

/** No HTTP answer at all: the broker could not be reached (`connection_failed`) or was too slow (`timeout`). */
export class LatchkeyConnectionError extends LatchkeyError {
  constructor(code: 'connection_failed' | 'timeout', message: string, options?: ErrorOptions) {
    super(code, 0, message, options);
  }
}

/**
 * The error for a non-2xx answer. The broker's `error` code decides first; a body without a known code
 * (a proxy's HTML page, a code added later) falls back on the status, keeping the code when one came.
 */
export function errorFromResponse(status: number, body: unknown): LatchkeyError {
  const code = stringMember(body, 'error');
  const message = stringMember(body, 'error_description') ?? `Latchkey answered HTTP ${status}${code ? ` (${code})` : ''}`;
  switch (code) {
    case 'needs_reauth':
      return new NeedsReauthError(message);
    case 'pending':
      return new PendingError(message);
    case 'provider_unavailable':
      return new ProviderUnavailableError(message);
    case 'not_found':
      return new NotFoundError(message);
    case 'unauthorized':
      return new UnauthorizedError(message);
    case 'forbidden':
      return new ForbiddenError(message);
    case 'invalid_request':
      return new InvalidRequestError(message);
  }
  switch (status) {
    case 400:
      return new InvalidRequestError(message, code);
    case 401:
      return new UnauthorizedError(message, code);
    case 403:
      return new ForbiddenError(message, code);
    case 404:
      return new NotFoundError(message, code);
    case 409:
      return new ConflictError(message, code);
  }
  return new LatchkeyError(code ?? (status >= 500 ? 'server_error' : 'unexpected_response'), status, message);
}

function stringMember(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
