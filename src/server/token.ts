import { OAuthError, UnauthorizedClient, UnsupportedGrantType, quoted } from '../core/errors.js';
import { rejectDuplicates, requireParam, type ParsedParams } from '../core/params.js';
import { authenticateClient } from './client-auth.js';
import type { ServerContext } from './context.js';
import { GRANTS, isGrantType } from './grants/registry.js';
import type { TokenResponse } from './issue.js';

/** The token endpoint (RFC 6749 §3.2): authenticate the client, then hand over to its grant. */
export async function handleTokenRequest(ctx: ServerContext, authorization: string | undefined, parsed: ParsedParams, ip: string): Promise<TokenResponse> {
  let grantLabel = 'unknown';
  try {
    const params = rejectDuplicates(parsed);
    const { client } = await authenticateClient(ctx, authorization, params, ip);
    const grantType = requireParam(params, 'grant_type');
    if (!isGrantType(grantType)) throw new UnsupportedGrantType(`grant_type ${quoted(grantType)} is not supported`);
    grantLabel = grantType;
    if (!client.grantTypes.includes(grantType)) throw new UnauthorizedClient(`the client may not use the ${grantType} grant`);
    const response = await GRANTS[grantType](ctx, client, params, parsed.repeated.get('resource') ?? [], ip);
    ctx.metrics.tokensIssued.inc({ grant_type: grantType });
    return response;
  } catch (err) {
    if (err instanceof OAuthError) ctx.metrics.tokenErrors.inc({ grant_type: grantLabel, error: err.error });
    throw err;
  }
}
