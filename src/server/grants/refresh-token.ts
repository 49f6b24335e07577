import { InvalidGrant, InvalidTarget } from '../../core/errors.js';
import type { Params } from '../../core/params.js';
import { requireParam } from '../../core/params.js';
import { narrowScopes, parseScopeParam } from '../../core/scopes.js';
import { hashSecret } from '../../crypto/secrets.js';
import type { ClientRecord } from '../../store/records.js';
import type { ServerContext } from '../context.js';
import { prepareTokens, type TokenResponse } from '../issue.js';
import { resolveApi } from '../resource.js';

const INVALID = 'the refresh token is invalid, expired or revoked';

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token and consumes
 * the old one. Presenting a consumed token means two parties hold the family, so the whole grant is
 * revoked. The new token keeps the grant's full scope even when the access token is narrowed (§6).
 */
export async function refreshTokenGrant(ctx: ServerContext, client: ClientRecord, params: Params, resources: string[]): Promise<TokenResponse> {
  const now = ctx.now();
  const tokenHash = hashSecret(requireParam(params, 'refresh_token'));
  const found = await ctx.store.tokens.findRefreshToken(tokenHash);
  if (!found || found.token.clientId !== client.id) throw new InvalidGrant(INVALID);
  const { token, grant } = found;
  if (grant.revokedAt !== null || token.expiresAt <= now) throw new InvalidGrant(INVALID);
  if (token.consumedAt !== null) {
    await ctx.store.tokens.revokeGrant(grant.id, now);
    throw new InvalidGrant('the refresh token was already used; every token of its grant is revoked');
  }
  if (resources.length > 0 || params.has('audience')) {
    const api = await resolveApi(ctx, resources, params.get('audience'));
    if (api.identifier !== grant.resource) throw new InvalidTarget('the refresh token was issued for another resource');
  }
  const scopes = narrowScopes(parseScopeParam(params.get('scope')), grant.scopes);
  if (grant.userId !== null && !(await ctx.store.users.get(grant.userId))) throw new InvalidGrant(INVALID);

  const { response, issue } = await prepareTokens(
    ctx,
    { client, subject: grant.userId ?? client.id, audience: grant.resource, scopes, grantId: grant.id, withRefreshToken: true },
    now,
  );
  const result = await ctx.store.tokens.rotateRefreshToken(tokenHash, now, issue!);
  if (result.outcome !== 'redeemed') {
    await ctx.store.tokens.revokeGrant(grant.id, now);
    throw new InvalidGrant('the refresh token was already used; every token of its grant is revoked');
  }
  return response;
}
