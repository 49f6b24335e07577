import { formatScope } from './scopes.js';

export interface AccessTokenInput {
  issuer: string;
  /** The user id, or the client id for client credentials. */
  subject: string;
  audience: string;
  clientId: string;
  scopes: readonly string[];
  jti: string;
  now: number;
  ttlSeconds: number;
}

export type AccessTokenClaims = {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  iat: number;
  jti: string;
  scope: string;
  client_id: string;
};

/** The claims of an RFC 9068 access token. */
export function accessTokenClaims(input: AccessTokenInput): AccessTokenClaims {
  const iat = Math.floor(input.now / 1000);
  return {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    exp: iat + input.ttlSeconds,
    iat,
    jti: input.jti,
    scope: formatScope(input.scopes),
    client_id: input.clientId,
  };
}
