import { decoyPasswordHash, verifyPassword } from '../crypto/password.js';
import type { UserRecord } from '../store/records.js';
import type { ServerContext } from './context.js';

/** Failed sign-ins allowed per window, per username and per client address. */
export const SIGN_IN_LIMITS = { perUser: 5, perAddress: 20, windowMs: 15 * 60 * 1000 } as const;

// Usernames are case-sensitive, so their counters are too.
const userKey = (username: string) => `sign-in:user:${username}`;
const addressKey = (address: string) => `sign-in:address:${address}`;

export type SignInResult = { outcome: 'signed_in'; user: UserRecord } | { outcome: 'invalid' } | { outcome: 'throttled' };

/**
 * Checks a username and password. After too many failures for the user or from the address, further
 * attempts are refused without checking the password, until the window ends; a success clears the
 * user's count. The counters live in the store, so they hold across processes.
 */
export async function signIn(ctx: ServerContext, username: string, password: string, address: string): Promise<SignInResult> {
  const now = ctx.now();
  const [userFailures, addressFailures] = await Promise.all([
    ctx.store.rateLimits.peek(userKey(username), now),
    ctx.store.rateLimits.peek(addressKey(address), now),
  ]);
  if (userFailures >= SIGN_IN_LIMITS.perUser || addressFailures >= SIGN_IN_LIMITS.perAddress) return { outcome: 'throttled' };

  const user = await ctx.store.users.getByUsername(username);
  // An unknown user costs the same scrypt as a known one, so timing does not reveal who exists.
  const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
  if (user && valid) {
    await ctx.store.rateLimits.clear(userKey(username));
    return { outcome: 'signed_in', user };
  }
  await Promise.all([
    ctx.store.rateLimits.count(userKey(username), SIGN_IN_LIMITS.windowMs, now),
    ctx.store.rateLimits.count(addressKey(address), SIGN_IN_LIMITS.windowMs, now),
  ]);
  return { outcome: 'invalid' };
}
