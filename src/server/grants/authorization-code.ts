import { InvalidGrant, InvalidRequest, InvalidTarget } from '../../core/errors.js';
import type { Params } from '../../core/params.js';
import { requireParam } from '../../core/params.js';
import { verifyPkce } from '../../core/pkce.js';
import { hashSecret } from '../../crypto/secrets.js';
import type { ClientRecord, GrantRecord } from '../../store/records.js';
import type { ServerContext } from '../context.js';
import { prepareTokens, type TokenResponse } from '../issue.js';
import { resolveApi } from '../resource.js';

/**
 * RFC 6749 §4.1.3 with RFC 7636 §4.6. The code is checked first and consumed last, in the same
 * transaction that stores its grant, so a lost race or a replay is caught atomically; a replay
 * revokes every token the code's first use produced (RFC 6749 §4.1.2).
 */
export async function authorizationCodeGrant(ctx: ServerContext, client: ClientRecord, params: Params, resources: string[]): Promise<TokenResponse> {
  const now = ctx.now();
  const codeHash = hashSecret(requireParam(params, 'code'));
  const code = await ctx.store.tokens.findCode(codeHash);
  if (!code || code.clientId !== client.id) throw new InvalidGrant('the code is invalid, expired or was issued to another client');
  if (code.consumedAt !== null) {
    await ctx.store.tokens.revokeGrant(code.grantId, now);
    throw new InvalidGrant('the code was already used; the tokens issued for it are revoked');
  }
  if (code.expiresAt <= now) throw new InvalidGrant('the code is invalid, expired or was issued to another client');

  const redirectUri = params.get('redirect_uri');
  if (redirectUri === undefined) {
    // Omitting it is allowed only where the authorization request could omit it: one registered URI.
    if (client.redirectUris.length !== 1 || client.redirectUris[0] !== code.redirectUri) {
      throw new InvalidRequest('redirect_uri is required');
    }
  } else if (redirectUri !== code.redirectUri) {
    throw new InvalidGrant('redirect_uri does not match the authorization request');
  }
  verifyPkce(code.codeChallenge, params.get('code_verifier'));

  if (resources.length > 0 || params.has('audience')) {
    const api = await resolveApi(ctx, resources, params.get('audience'));
    if (api.identifier !== code.resource) throw new InvalidTarget('the code was issued for another resource');
  }
  const user = await ctx.store.users.get(code.userId);
  if (!user) throw new InvalidGrant('the user of this code no longer exists');

  const withRefreshToken = client.grantTypes.includes('refresh_token');
  const ttlMs = withRefreshToken ? ctx.config.refreshTokenTtlSeconds * 1000 : ctx.config.accessTokenTtlSeconds * 1000;
  const grant: GrantRecord = {
    id: code.grantId,
    clientId: client.id,
    userId: code.userId,
    scopes: code.scopes,
    resource: code.resource,
    createdAt: now,
    expiresAt: now + ttlMs,
    revokedAt: null,
  };
  const { response, issue } = await prepareTokens(
    ctx,
    { client, subject: code.userId, audience: code.resource, scopes: code.scopes, grantId: grant.id, withRefreshToken },
    now,
  );
  const result = await ctx.store.tokens.redeemCode(codeHash, now, grant, issue!);
  if (result.outcome === 'already_consumed') {
    await ctx.store.tokens.revokeGrant(code.grantId, now);
    throw new InvalidGrant('the code was already used; the tokens issued for it are revoked');
  }
  if (result.outcome === 'not_found') throw new InvalidGrant('the code is invalid, expired or was issued to another client');
  return response;
}
