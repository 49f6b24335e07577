import { InvalidClient } from '../core/errors.js';
import { rejectDuplicates, requireParam, type ParsedParams } from '../core/params.js';
import { formatScope } from '../core/scopes.js';
import { authenticateClient } from './client-auth.js';
import type { ServerContext } from './context.js';
import { lookUpToken } from './token-lookup.js';

export type IntrospectionResponse = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE: IntrospectionResponse = { active: false };

/**
 * RFC 7662. Callers are confidential clients, typically resource servers: any of them may ask about
 * an access token (it must hold the token to ask), while a refresh token is described only to the
 * client it was issued to. Everything else, including revoked and expired tokens, is `active: false`
 * with no further detail (§2.2).
 */
export async function handleIntrospection(ctx: ServerContext, authorization: string | undefined, parsed: ParsedParams, ip: string): Promise<IntrospectionResponse> {
  const params = rejectDuplicates(parsed);
  const { client } = await authenticateClient(ctx, authorization, params, ip);
  if (client.isPublic) throw new InvalidClient('public clients cannot introspect tokens');
  const token = requireParam(params, 'token');
  const now = ctx.now();

  const found = await lookUpToken(ctx, token, now);
  if (!found) return INACTIVE;
  if (found.kind === 'refresh_token') {
    const { record, grant } = found;
    const live = record.consumedAt === null && record.expiresAt > now && grant.revokedAt === null;
    if (!live || record.clientId !== client.id) return INACTIVE;
    return {
      active: true,
      client_id: record.clientId,
      scope: formatScope(grant.scopes),
      ...(grant.userId !== null && { sub: grant.userId }),
      aud: grant.resource,
      iss: ctx.config.issuer,
      iat: Math.floor(record.createdAt / 1000),
      exp: Math.floor(record.expiresAt / 1000),
    };
  }

  const { claims } = found;
  if ((await ctx.store.tokens.accessTokenState(claims.jti)).revoked) return INACTIVE;
  if (!(await ctx.store.clients.get(claims.client_id))) return INACTIVE;
  // A token for a deleted API is no longer good, even one with no grant behind it (client credentials).
  if (typeof claims.aud !== 'string' || !(await ctx.store.apis.getByIdentifier(claims.aud))) return INACTIVE;
  return {
    active: true,
    token_type: 'Bearer',
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
  };
}
