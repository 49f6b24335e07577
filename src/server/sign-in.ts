import { decoyPasswordHash, verifyPassword } from '../crypto/password.js';
import type { UserRecord } from '../store/records.js';
import { recordAudit } from './audit.js';
import type { ServerContext } from './context.js';

/** Sign-in attempts allowed per window, per username and per client address. */
export const SIGN_IN_LIMITS = { perUser: 5, perAddress: 20, windowMs: 15 * 60 * 1000 } as const;

// Usernames are case-sensitive, so their counters are too.
const userKey = (username: string) => `sign-in:user:${username}`;
const addressKey = (address: string) => `sign-in:address:${address}`;

export type SignInResult = { outcome: 'signed_in'; user: UserRecord } | { outcome: 'invalid' } | { outcome: 'throttled'; retryAfterMs: number };

/**
 * Checks a username and password. Each attempt is counted, atomically, before the password is
 * checked, so that of any number of parallel guesses at most the limit are ever checked; the rest
 * are refused until the window ends. A success clears the user's count and takes its attempt back
 * from the address's. The counters live in the store, so they hold across processes.
 */
export async function signIn(ctx: ServerContext, username: string, password: string, address: string): Promise<SignInResult> {
  const now = ctx.now();
  const [perUser, perAddress] = await Promise.all([
    ctx.store.rateLimits.count(userKey(username), SIGN_IN_LIMITS.windowMs, now),
    ctx.store.rateLimits.count(addressKey(address), SIGN_IN_LIMITS.windowMs, now),
  ]);
  const lockedUntil: number[] = [];
  if (perUser.count > SIGN_IN_LIMITS.perUser) lockedUntil.push(perUser.windowEnd);
  if (perAddress.count > SIGN_IN_LIMITS.perAddress) lockedUntil.push(perAddress.windowEnd);
  if (lockedUntil.length > 0) {
    ctx.metrics.signIns.inc({ outcome: 'throttled' });
    return { outcome: 'throttled', retryAfterMs: Math.max(...lockedUntil) - now };
  }

  const user = await ctx.store.users.getByUsername(username);
  // An unknown user costs the same scrypt as a known one, so timing does not reveal who exists.
  const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
  if (user && valid) {
    await Promise.all([ctx.store.rateLimits.clear(userKey(username)), ctx.store.rateLimits.uncount(addressKey(address))]);
    ctx.metrics.signIns.inc({ outcome: 'signed_in' });
    return { outcome: 'signed_in', user };
  }
  ctx.metrics.signIns.inc({ outcome: 'invalid' });
  const by = { actor: 'anonymous', ip: address };
  const fields = { userId: user?.id ?? null, detail: { username: username.slice(0, 100), known_user: user !== undefined } };
  await recordAudit(ctx, 'signin.failed', by, fields);
  if (perUser.count === SIGN_IN_LIMITS.perUser) {
    await recordAudit(ctx, 'signin.locked', by, { ...fields, detail: { ...fields.detail, failures: perUser.count, locked_minutes: SIGN_IN_LIMITS.windowMs / 60_000 } });
  }
  return { outcome: 'invalid' };
}
