import { timingSafeEqual } from 'node:crypto';
import { hashSecret, randomToken } from '../crypto/secrets.js';
import type { UserRecord } from '../store/records.js';
import type { ServerContext } from './context.js';

export const SESSION_COOKIE = 'latchkey_session';
/** Binds the login form to the browser before there is a session (double-submit, HMAC-bound). */
export const LOGIN_CSRF_COOKIE = 'latchkey_login_csrf';

export interface Session {
  idHash: string;
  user: UserRecord;
}

/** The session id lives only in the cookie; the store keeps its hash, so a database dump opens none. */
export async function startSession(ctx: ServerContext, userId: string): Promise<string> {
  const id = randomToken(32);
  const now = ctx.now();
  await ctx.store.sessions.create({ idHash: hashSecret(id), userId, createdAt: now, expiresAt: now + ctx.config.sessionTtlSeconds * 1000 });
  return id;
}

export async function currentSession(ctx: ServerContext, cookieValue: string | undefined): Promise<Session | undefined> {
  if (!cookieValue) return undefined;
  const idHash = hashSecret(cookieValue);
  const session = await ctx.store.sessions.get(idHash, ctx.now());
  if (!session) return undefined;
  const user = await ctx.store.users.get(session.userId);
  return user && { idHash, user };
}

export async function endSession(ctx: ServerContext, cookieValue: string | undefined): Promise<void> {
  if (cookieValue) await ctx.store.sessions.delete(hashSecret(cookieValue));
}

/** A CSRF token bound to `binding` (a session hash, or the login cookie) by an HMAC under the master key. */
export function csrfToken(ctx: ServerContext, binding: string): string {
  return ctx.masterKeys.mac('csrf', binding);
}

export function csrfMatches(ctx: ServerContext, binding: string, token: string | undefined): boolean {
  if (token === undefined) return false;
  const expected = Buffer.from(csrfToken(ctx, binding));
  const actual = Buffer.from(token);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export function cookieOptions(ctx: ServerContext, maxAgeSeconds?: number) {
  return {
    httpOnly: true,
    sameSite: 'lax' as const,
    path: '/',
    secure: ctx.config.issuer.startsWith('https:'),
    ...(maxAgeSeconds !== undefined && { maxAge: maxAgeSeconds }),
  };
}
