import { UnauthorizedClient, UnsupportedGrantType } from '../core/errors.js';
import { rejectDuplicates, requireParam, type ParsedParams } from '../core/params.js';
import { authenticateClient } from './client-auth.js';
import type { ServerContext } from './context.js';
import { GRANTS, isGrantType } from './grants/registry.js';
import type { TokenResponse } from './issue.js';

/** The token endpoint (RFC 6749 §3.2): authenticate the client, then hand over to its grant. */
export async function handleTokenRequest(ctx: ServerContext, authorization: string | undefined, parsed: ParsedParams): Promise<TokenResponse> {
  const params = rejectDuplicates(parsed);
  const { client } = await authenticateClient(ctx, authorization, params);
  const grantType = requireParam(params, 'grant_type');
  if (!isGrantType(grantType)) throw new UnsupportedGrantType(`grant_type "${grantType.slice(0, 64)}" is not supported`);
  if (!client.grantTypes.includes(grantType)) throw new UnauthorizedClient(`the client may not use the ${grantType} grant`);
  return GRANTS[grantType](ctx, client, params, parsed.repeated.get('resource') ?? []);
}
