import type { ZodType } from 'zod';

/**
 * What the broker answers when it cannot hand out what was asked. `code` is the SPEC's error code,
 * stable for clients to branch on; the message never holds a token, secret or provider response body.
 */
export type BrokerErrorCode =
  | 'invalid_request'
  | 'not_found'
  | 'forbidden'
  | 'needs_reauth'
  | 'pending'
  | 'provider_unavailable'
  | 'provider_in_use'
  | 'conflict';

const STATUS: Record<BrokerErrorCode, number> = {
  invalid_request: 400,
  forbidden: 403,
  not_found: 404,
  needs_reauth: 409,
  pending: 409,
  provider_in_use: 409,
  conflict: 409,
  provider_unavailable: 503,
};

/** Validates a request body with `schema`; the first problem becomes a 400 naming its field. */
export function parseInput<T>(schema: ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BrokerError('invalid_request', `${issue?.path.length ? issue.path.join('.') : 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

export class BrokerError extends Error {
  constructor(
    readonly code: BrokerErrorCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return STATUS[this.code];
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.code, error_description: this.message };
  }
}
