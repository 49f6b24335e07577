/** What the store keeps, as the rest of the code sees it. Times are epoch milliseconds. */

export interface ScopeDefinition {
  value: string;
  description: string;
}

export interface ApiRecord {
  id: string;
  identifier: string;
  name: string;
  scopes: ScopeDefinition[];
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
}

export type GrantType = 'authorization_code' | 'client_credentials' | 'refresh_token';
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

export interface ClientRecord {
  id: string;
  name: string;
  /** SHA-256 of the secret; null for public clients. */
  secretHash: string | null;
  isPublic: boolean;
  /** null: both methods are accepted. */
  authMethod: ClientAuthMethod | null;
  redirectUris: string[];
  grantTypes: GrantType[];
  scopes: string[];
  createdAt: number;
  updatedAt: number;
}

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
  isAdmin: boolean;
  createdAt: number;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  keyHash: string;
  createdAt: number;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  publicJwk: string;
  /** The private JWK, sealed under the master key. */
  privateSealed: string;
  createdAt: number;
  /** When it stopped signing; null for the key that signs now. */
  retiredAt: number | null;
}

/** One authorization of a client by a user (or by itself): the family of its refresh tokens. */
export interface GrantRecord {
  id: string;
  clientId: string;
  userId: string | null;
  scopes: string[];
  resource: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

export interface AuthorizationCodeRecord {
  codeHash: string;
  /** The grant the code's tokens will belong to; created when the code is redeemed. */
  grantId: string;
  clientId: string;
  userId: string;
  redirectUri: string;
  scopes: string[];
  resource: string;
  codeChallenge: string | null;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  grantId: string;
  clientId: string;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface AccessTokenRecord {
  jti: string;
  grantId: string | null;
  clientId: string;
  expiresAt: number;
}

export interface ConsentRecord {
  userId: string;
  clientId: string;
  resource: string;
  scopes: string[];
  createdAt: number;
  updatedAt: number;
}

export interface SessionRecord {
  idHash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
}

/** An authorization request waiting for the user to sign in or consent. */
export interface InteractionRecord {
  id: string;
  /** Hash of the session that must answer it, so another browser cannot. */
  sessionHash: string;
  request: string;
  createdAt: number;
  expiresAt: number;
}

export type Redemption<T> = { outcome: 'redeemed'; record: T } | { outcome: 'already_consumed'; record: T } | { outcome: 'not_found' };

export interface PurgeCounts {
  codes: number;
  refreshTokens: number;
  accessTokens: number;
  grants: number;
  sessions: number;
  interactions: number;
  rateLimits: number;
  signingKeys: number;
  locks: number;
}
