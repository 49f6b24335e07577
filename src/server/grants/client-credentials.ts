import { UnauthorizedClient } from '../../core/errors.js';
import type { Params } from '../../core/params.js';
import { grantScopes, parseScopeParam } from '../../core/scopes.js';
import type { ClientRecord } from '../../store/records.js';
import type { ServerContext } from '../context.js';
import { prepareTokens, type TokenResponse } from '../issue.js';
import { apiScopeValues, resolveApi } from '../resource.js';

/**
 * RFC 6749 §4.4. The token's subject is the client itself; no refresh token (§4.4.3) and no write
 * to the database, so this grant scales with signing alone.
 */
export async function clientCredentialsGrant(ctx: ServerContext, client: ClientRecord, params: Params, resources: string[]): Promise<TokenResponse> {
  if (client.isPublic) throw new UnauthorizedClient('public clients cannot use client_credentials');
  const api = await resolveApi(ctx, resources, params.get('audience'));
  const scopes = grantScopes(parseScopeParam(params.get('scope')), client.scopes, apiScopeValues(api));
  const { response } = await prepareTokens(ctx, { client, subject: client.id, audience: api.identifier, scopes, grantId: null, withRefreshToken: false }, ctx.now());
  return response;
}
