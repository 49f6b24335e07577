import { accessTokenClaims } from '../core/access-token.js';
import { formatScope } from '../core/scopes.js';
import { hashSecret, newId, newSecret } from '../crypto/secrets.js';
import type { AccessTokenRecord, ClientRecord, RefreshTokenRecord } from '../store/records.js';
import type { TokenIssue } from '../store/store.js';
import type { ServerContext } from './context.js';

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface IssueInput {
  client: ClientRecord;
  subject: string;
  audience: string;
  scopes: readonly string[];
  /** The grant the tokens belong to; null for client credentials, which are never stored. */
  grantId: string | null;
  withRefreshToken: boolean;
  /** The refresh token to issue; a new random one when absent. */
  refreshToken?: string;
}

export interface PreparedTokens {
  response: TokenResponse;
  /** What the store must persist with the grant; absent for tokens that need no write. */
  issue: TokenIssue | undefined;
}

/** Signs the access token and mints the refresh token; the caller persists `issue` atomically. */
export async function prepareTokens(ctx: ServerContext, input: IssueInput, now: number): Promise<PreparedTokens> {
  const ttl = ctx.config.accessTokenTtlSeconds;
  const jti = newId();
  const accessToken = await ctx.keys.signAccessToken(
    accessTokenClaims({ issuer: ctx.config.issuer, subject: input.subject, audience: input.audience, clientId: input.client.id, scopes: input.scopes, jti, now, ttlSeconds: ttl }),
  );
  const response: TokenResponse = { access_token: accessToken, token_type: 'Bearer', expires_in: ttl, scope: formatScope(input.scopes) };
  if (input.grantId === null) return { response, issue: undefined };

  const accessRecord: AccessTokenRecord = { jti, grantId: input.grantId, clientId: input.client.id, expiresAt: now + ttl * 1000 };
  let refreshRecord: RefreshTokenRecord | null = null;
  if (input.withRefreshToken) {
    const refreshToken = input.refreshToken ?? newSecret('refreshToken');
    response.refresh_token = refreshToken;
    refreshRecord = {
      tokenHash: hashSecret(refreshToken),
      grantId: input.grantId,
      clientId: input.client.id,
      createdAt: now,
      expiresAt: now + ctx.config.refreshTokenTtlSeconds * 1000,
      consumedAt: null,
      reissueSealed: null,
    };
  }
  return { response, issue: { accessToken: accessRecord, refreshToken: refreshRecord } };
}
