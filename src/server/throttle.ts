import { TemporarilyUnavailable } from '../core/errors.js';
import { recordAudit } from './audit.js';
import type { ServerContext } from './context.js';

/**
 * Whose failures count: the calling address, and the client id a request names when it names one,
 * counted per address too: client ids are public, so a limit on the id alone would let anyone lock
 * a client out by sending wrong secrets for it.
 */
export interface ThrottleSubject {
  address: string;
  clientId?: string | undefined;
}

const addressKey = (address: string) => `auth:address:${address}`;
const clientKey = (clientId: string, address: string) => `auth:client:${address}:${clientId}`;

/** The counters a subject's failures go to, each with its limit. */
function countersOf(ctx: ServerContext, subject: ThrottleSubject): { key: string; limit: 'client' | 'address'; max: number }[] {
  const { clientFailures, addressFailures } = ctx.config.rateLimits;
  const counters: { key: string; limit: 'client' | 'address'; max: number }[] = [{ key: addressKey(subject.address), limit: 'address', max: addressFailures }];
  if (subject.clientId !== undefined) counters.push({ key: clientKey(subject.clientId, subject.address), limit: 'client', max: clientFailures });
  return counters;
}

/**
 * Refuses a request whose address or client has used up its failed authentications for the window,
 * with the seconds until the window ends. One read covers both counters. Counting happens after a
 * failure, so requests already in flight when a limit is reached still complete: client secrets and
 * API keys carry 256 bits, so the limit is against abuse and load, not guessing. (Passwords, which
 * can be guessed, are counted before they are checked: see sign-in.)
 */
export async function refuseIfThrottled(ctx: ServerContext, subject: ThrottleSubject): Promise<void> {
  const now = ctx.now();
  const counters = countersOf(ctx, subject);
  const windows = await ctx.store.rateLimits.peek(
    counters.map((c) => c.key),
    now,
  );
  for (const { key, limit, max } of counters) {
    const window = windows.get(key);
    if (window && window.count >= max) {
      ctx.metrics.throttled.inc({ limit });
      throw new TemporarilyUnavailable('too many failed authentications; try again later', Math.max(1, Math.ceil((window.windowEnd - now) / 1000)));
    }
  }
}

/** Counts one failed authentication against the address and the client; records the moment a limit is reached. */
export async function countFailedAuthentication(ctx: ServerContext, subject: ThrottleSubject): Promise<void> {
  const windowMs = ctx.config.rateLimits.windowSeconds * 1000;
  const now = ctx.now();
  for (const { key, limit, max } of countersOf(ctx, subject)) {
    const { count } = await ctx.store.rateLimits.count(key, windowMs, now);
    if (count === max) {
      await recordAudit(ctx, 'rate_limit.exceeded', { actor: 'anonymous', ip: subject.address }, {
        clientId: limit === 'client' ? (subject.clientId ?? null) : null,
        detail: { limit, failures: count, window_seconds: ctx.config.rateLimits.windowSeconds },
      });
    }
  }
}
