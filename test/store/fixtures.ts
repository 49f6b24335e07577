import type {
  AccessTokenRecord,
  ApiKeyRecord,
  ApiRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  InteractionRecord,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from '../../src/store/records.js';
import type { TokenIssue } from '../../src/store/store.js';

/** A fixed clock: tests pass times explicitly and never read the wall clock. */
export const NOW = 1_700_000_000_000;
export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

let sequence = 0;
/** A fresh identifier, unique within the run. */
export const uid = (prefix: string): string => `${prefix}-${++sequence}`;

export function apiRecord(over: Partial<ApiRecord> = {}): ApiRecord {
  const id = over.id ?? uid('api');
  return {
    id,
    identifier: `https://${id}.example.test`,
    name: `API ${id}`,
    scopes: [
      { value: 'read', description: 'Read things' },
      { value: 'write', description: 'Write things' },
    ],
    isDefault: false,
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

export function clientRecord(over: Partial<ClientRecord> = {}): ClientRecord {
  const id = over.id ?? uid('client');
  return {
    id,
    name: `Client ${id}`,
    secretHash: `secret-hash-${id}`,
    isPublic: false,
    authMethod: 'client_secret_basic',
    redirectUris: ['https://app.example.test/callback'],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read', 'write'],
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

export function userRecord(over: Partial<UserRecord> = {}): UserRecord {
  const id = over.id ?? uid('user');
  return { id, username: `name-${id}`, passwordHash: `password-hash-${id}`, isAdmin: false, createdAt: NOW, ...over };
}

export function apiKeyRecord(over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  const id = over.id ?? uid('apikey');
  return { id, name: `Key ${id}`, keyHash: `key-hash-${id}`, createdAt: NOW, ...over };
}

export function signingKeyRecord(over: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = over.kid ?? uid('kid');
  return { kid, alg: 'ES256', publicJwk: `{"kid":"${kid}"}`, privateSealed: `sealed-${kid}`, createdAt: NOW, retiredAt: null, ...over };
}

export function grantRecord(over: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: uid('grant'),
    clientId: uid('client'),
    userId: uid('user'),
    scopes: ['read'],
    resource: 'https://api.example.test',
    createdAt: NOW,
    expiresAt: NOW + 30 * DAY,
    revokedAt: null,
    ...over,
  };
}

export function codeRecord(over: Partial<AuthorizationCodeRecord> = {}): AuthorizationCodeRecord {
  return {
    codeHash: uid('code-hash'),
    grantId: uid('grant'),
    clientId: uid('client'),
    userId: uid('user'),
    redirectUri: 'https://app.example.test/callback',
    scopes: ['read'],
    resource: 'https://api.example.test',
    codeChallenge: 'challenge',
    createdAt: NOW,
    expiresAt: NOW + MINUTE,
    consumedAt: null,
    ...over,
  };
}

export function refreshTokenRecord(over: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash: uid('refresh-hash'),
    grantId: uid('grant'),
    clientId: uid('client'),
    createdAt: NOW,
    expiresAt: NOW + 30 * DAY,
    consumedAt: null,
    ...over,
  };
}

export function accessTokenRecord(over: Partial<AccessTokenRecord> = {}): AccessTokenRecord {
  return { jti: uid('jti'), grantId: uid('grant'), clientId: uid('client'), expiresAt: NOW + HOUR, ...over };
}

export function consentRecord(over: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    userId: uid('user'),
    clientId: uid('client'),
    resource: 'https://api.example.test',
    scopes: ['read'],
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

export function sessionRecord(over: Partial<SessionRecord> = {}): SessionRecord {
  return { idHash: uid('session-hash'), userId: uid('user'), createdAt: NOW, expiresAt: NOW + HOUR, ...over };
}

export function interactionRecord(over: Partial<InteractionRecord> = {}): InteractionRecord {
  return {
    id: uid('interaction'),
    sessionHash: uid('session-hash'),
    request: JSON.stringify({ client_id: 'c', scope: 'read' }),
    createdAt: NOW,
    expiresAt: NOW + 10 * MINUTE,
    ...over,
  };
}

/** Tokens issued for `grant` at `now`: a fresh refresh token (unless `refresh` is false) and access token. */
export function issueFor(grant: Pick<GrantRecord, 'id' | 'clientId'>, now = NOW, refresh = true): TokenIssue {
  return {
    refreshToken: refresh ? refreshTokenRecord({ grantId: grant.id, clientId: grant.clientId, createdAt: now, expiresAt: now + 30 * DAY }) : null,
    accessToken: accessTokenRecord({ grantId: grant.id, clientId: grant.clientId, expiresAt: now + HOUR }),
  };
}

/** A code for a user and client, with the grant that redeeming it creates. */
export function authorization(over: { clientId?: string; userId?: string; now?: number } = {}): {
  code: AuthorizationCodeRecord;
  grant: GrantRecord;
} {
  const now = over.now ?? NOW;
  const clientId = over.clientId ?? uid('client');
  const userId = over.userId ?? uid('user');
  const grantId = uid('grant');
  return {
    code: codeRecord({ grantId, clientId, userId, createdAt: now, expiresAt: now + MINUTE }),
    grant: grantRecord({ id: grantId, clientId, userId, createdAt: now, expiresAt: now + 30 * DAY }),
  };
}
