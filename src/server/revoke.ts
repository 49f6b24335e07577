import { UnauthorizedClient, UnsupportedTokenType } from '../core/errors.js';
import { rejectDuplicates, requireParam, type ParsedParams } from '../core/params.js';
import { authenticateClient } from './client-auth.js';
import type { ServerContext } from './context.js';
import { lookUpToken } from './token-lookup.js';

const HINTS = new Set(['access_token', 'refresh_token']);

/**
 * RFC 7009. Revoking a refresh token revokes its whole grant, so every access token issued from it
 * becomes inactive too. A token the server does not know answers 200 like a revoked one (§2.2); a
 * token issued to another client is refused and left alone (§2.1).
 */
export async function handleRevocation(ctx: ServerContext, authorization: string | undefined, parsed: ParsedParams, ip: string): Promise<void> {
  const params = rejectDuplicates(parsed);
  const { client } = await authenticateClient(ctx, authorization, params, ip);
  const token = requireParam(params, 'token');
  const hint = params.get('token_type_hint');
  if (hint !== undefined && !HINTS.has(hint)) throw new UnsupportedTokenType('token_type_hint must be access_token or refresh_token');
  const now = ctx.now();

  const found = await lookUpToken(ctx, token, now);
  if (!found) return;
  const owner = found.kind === 'refresh_token' ? found.record.clientId : found.claims.client_id;
  if (owner !== client.id) throw new UnauthorizedClient('the token was not issued to this client');
  if (found.kind === 'refresh_token') await ctx.store.tokens.revokeGrant(found.grant.id, now);
  else await ctx.store.tokens.revokeAccessToken({ jti: found.claims.jti, grantId: null, clientId: client.id, expiresAt: found.claims.exp * 1000 }, now);
}
