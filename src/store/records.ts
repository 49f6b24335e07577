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
  /** The secret before the last rotation, accepted until `previousSecretExpiresAt`; null when none. */
  previousSecretHash: string | null;
  previousSecretExpiresAt: number | null;
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
  /**
   * The access token issued with this refresh token, sealed, while the reuse grace window may
   * still ask for it again; null otherwise.
   */
  reissueSealed: string | null;
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

/** A held lock: `fence` grows with every acquisition of `name`, so a stale holder can be told apart. */
export interface LockLease {
  name: string;
  owner: string;
  fence: number;
}

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
  oauthStates: number;
  webhookDeliveries: number;
  auditEvents: number;
  refreshReissues: number;
}

/** The security events recorded in the audit trail. */
export const AUDIT_EVENT_TYPES = [
  'signin.failed',
  'signin.locked',
  'refresh.reuse_detected',
  'client.created',
  'client.deleted',
  'client.secret_rotated',
  'client.auth_failed',
  'api_key.created',
  'api_key.deleted',
  'api_key.rejected',
  'user.created',
  'user.deleted',
  'key.rotated',
  'secrets.rotated',
  'connection.revoked',
  'rate_limit.exceeded',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** One security event: who did what, from where, when. `detail` never holds a secret. */
export interface AuditEvent {
  id: string;
  type: AuditEventType;
  at: number;
  /** `user:<id>`, `client:<id>`, `api_key:<id>`, `cli`, or `anonymous`. */
  actor: string;
  clientId: string | null;
  userId: string | null;
  ip: string | null;
  detail: Record<string, string | number | boolean | null>;
}

// The connection broker

export type ProviderGrantType = 'authorization_code' | 'client_credentials';

/** A third-party OAuth 2.0 provider registered for the instance (appId null) or for one app. */
export interface ProviderRecord {
  id: string;
  name: string;
  appId: string | null;
  /** The catalog entry whose quirks apply, or null for a provider known only by its URLs. */
  catalogName: string | null;
  grantType: ProviderGrantType;
  clientId: string;
  clientSecretSealed: string;
  authorizeUrl: string | null;
  tokenUrl: string;
  revokeUrl: string | null;
  userinfoUrl: string | null;
  /** The provider's issuer: `iss` in callbacks is checked against it. */
  issuer: string | null;
  issParameterSupported: boolean;
  scopes: string[];
  scopeSeparator: string;
  pkce: boolean;
  authMethod: ClientAuthMethod;
  /** null: `<issuer>/api/v1/credentials/auth/callback/<name>`. */
  redirectUri: string | null;
  authorizationParams: Record<string, string>;
  tokenParams: Record<string, string>;
  /** Values for the catalog URLs' `{placeholders}` fixed for every connection. */
  templateValues: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

export type ConnectionStatus = 'pending' | 'active' | 'needs_reauth';
/** How the connection was made: a signed-in user's browser, the partner portal, or client credentials. */
export type ConnectionSource = 'browser' | 'portal' | 'client_credentials';

export interface ConnectionRecord {
  id: string;
  providerId: string;
  providerName: string;
  userId: string | null;
  appId: string | null;
  source: ConnectionSource;
  status: ConnectionStatus;
  scopes: string[];
  accessTokenSealed: string | null;
  refreshTokenSealed: string | null;
  tokenType: string | null;
  /** When the access token expires; null when the provider gave no lifetime. */
  expiresAt: number | null;
  /** When the token should be refreshed (inside the margin, or 24 h on for tokens without a lifetime). */
  refreshAt: number | null;
  accountId: string | null;
  accountEmail: string | null;
  /** Non-secret values: template values of the flow and fields kept from the token response. */
  config: Record<string, string>;
  oauth2RedirectUrl: string | null;
  portalTokenHash: string | null;
  portalTokenSealed: string | null;
  portalExpiresAt: number | null;
  /** Failed background refreshes in a row, and when the next may be tried. */
  failureCount: number;
  nextAttemptAt: number | null;
  lastError: string | null;
  /** When it was first authorized: a later authorization is a re-authorization. */
  authorizedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** An authorization request sent to a provider, waiting for its callback. */
export interface OAuthStateRecord {
  stateHash: string;
  providerId: string;
  /** The portal connection it authorizes, or null for a browser flow. */
  connectionId: string | null;
  userId: string | null;
  appId: string | null;
  returnTo: string | null;
  codeVerifierSealed: string | null;
  /** Hash of the browser-binding cookie of the browser that started it. */
  bindingHash: string;
  config: Record<string, string>;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface WebhookRecord {
  id: string;
  url: string;
  /** Empty: every event. */
  events: string[];
  secretSealed: string;
  createdAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event for one webhook: the outbox row, which is also its delivery log. */
export interface WebhookDeliveryRecord {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** The exact body that is signed and sent. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}
