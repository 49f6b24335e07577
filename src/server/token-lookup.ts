import type { JWTPayload } from 'jose';
import { hashSecret } from '../crypto/secrets.js';
import type { GrantRecord, RefreshTokenRecord } from '../store/records.js';
import type { ServerContext } from './context.js';

export type AccessTokenPayload = JWTPayload & { jti: string; exp: number; client_id: string };

export type PresentedToken =
  | { kind: 'refresh_token'; record: RefreshTokenRecord; grant: GrantRecord }
  | { kind: 'access_token'; claims: AccessTokenPayload };

/**
 * Finds what a token presented to revocation or introspection is: one of our refresh tokens (by its
 * hash), or an unexpired access token we signed with every claim we issue. Anything else is
 * undefined, which both endpoints answer without an error.
 */
export async function lookUpToken(ctx: ServerContext, token: string, now: number): Promise<PresentedToken | undefined> {
  const refresh = await ctx.store.tokens.findRefreshToken(hashSecret(token));
  if (refresh) return { kind: 'refresh_token', record: refresh.token, grant: refresh.grant };
  const claims = await ctx.keys.verifyAccessToken(token, ctx.config.issuer, now);
  if (!claims || typeof claims.jti !== 'string' || typeof claims.exp !== 'number' || typeof claims.client_id !== 'string') return undefined;
  return { kind: 'access_token', claims: claims as AccessTokenPayload };
}
