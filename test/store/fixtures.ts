import { afterAll, afterEach, beforeEach } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { openStore } from '../../src/store/open.js';
import type {
  AccessTokenRecord,
  AuditEvent,
  ApiKeyRecord,
  ApiRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  ConnectionRecord,
  ConsentRecord,
  GrantRecord,
  InteractionRecord,
  OAuthStateRecord,
  ProviderRecord,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from '../../src/store/records.js';
import type { TokenIssue } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

/** A fixed clock: tests pass times explicitly and never read the wall clock. */
export const NOW = 1_700_000_000_000;
export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    ...over,
  };
}

export function auditEvent(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: uid('audit'),
    type: 'signin.failed',
    at: NOW,
    actor: 'anonymous',
    clientId: null,
    userId: uid('user'),
    ip: '127.0.0.1',
    detail: { username: 'alice', known_user: true },
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
    reissueSealed: null,
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

// The connection broker

export function providerRecord(over: Partial<ProviderRecord> = {}): ProviderRecord {
  return {
    id: uid('provider'),
    name: uid('provider-name'),
    appId: null,
    catalogName: null,
    grantType: 'authorization_code',
    clientId: 'broker-client',
    clientSecretSealed: 'v1.mk-1.iv.secret',
    authorizeUrl: 'https://provider.example.test/authorize',
    tokenUrl: 'https://provider.example.test/token',
    revokeUrl: null,
    userinfoUrl: null,
    issuer: 'https://provider.example.test',
    issParameterSupported: false,
    scopes: ['read'],
    scopeSeparator: ' ',
    pkce: true,
    authMethod: 'client_secret_basic',
    redirectUri: null,
    authorizationParams: {},
    tokenParams: {},
    templateValues: {},
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

export function connectionRecord(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: uid('connection'),
    providerId: uid('provider'),
    providerName: uid('provider-name'),
    userId: uid('user'),
    appId: null,
    source: 'browser',
    status: 'active',
    scopes: ['read'],
    accessTokenSealed: 'v1.mk-1.iv.access',
    refreshTokenSealed: 'v1.mk-1.iv.refresh',
    tokenType: 'Bearer',
    expiresAt: NOW + HOUR,
    refreshAt: NOW + HOUR - 5 * MINUTE,
    accountId: null,
    accountEmail: null,
    config: {},
    oauth2RedirectUrl: null,
    portalTokenHash: null,
    portalTokenSealed: null,
    portalExpiresAt: null,
    failureCount: 0,
    nextAttemptAt: null,
    lastError: null,
    authorizedAt: NOW,
    createdAt: NOW,
    updatedAt: NOW,
    ...over,
  };
}

export function oauthStateRecord(over: Partial<OAuthStateRecord> = {}): OAuthStateRecord {
  return {
    stateHash: uid('state-hash'),
    providerId: uid('provider'),
    connectionId: null,
    userId: uid('user'),
    appId: null,
    returnTo: 'https://app.example.test/done',
    codeVerifierSealed: 'v1.mk-1.iv.verifier',
    bindingHash: uid('binding-hash'),
    config: {},
    createdAt: NOW,
    expiresAt: NOW + 10 * MINUTE,
    consumedAt: null,
    ...over,
  };
}

export function webhookRecord(over: Partial<WebhookRecord> = {}): WebhookRecord {
  return { id: uid('webhook'), url: 'https://hooks.example.test/latchkey', events: [], secretSealed: 'v1.mk-1.iv.whsecret', createdAt: NOW, ...over };
}

export function deliveryRecord(over: Partial<WebhookDeliveryRecord> = {}): WebhookDeliveryRecord {
  const eventId = uid('event');
  return {
    id: uid('delivery'),
    webhookId: uid('webhook'),
    eventId,
    eventType: 'connection.created',
    payload: JSON.stringify({ id: eventId, type: 'connection.created' }),
    status: 'pending',
    attempts: 0,
    nextAttemptAt: NOW,
    lastStatusCode: null,
    lastError: null,
    createdAt: NOW,
    deliveredAt: null,
    ...over,
  };
}

export interface StoreHarness {
  /** The test's store, on a fresh database of its own. */
  readonly store: KyselyStore;
  readonly database: TestDatabase;
  /** `n` stores on the test's database, the test's first, each with its own connection (SQLite) or pool (PostgreSQL). */
  peers(n: number): Promise<KyselyStore[]>;
}

/** Gives each test of the calling suite a fresh database of `kind` and closes and drops everything after it. */
export function useStore(kind: TestDatabase['kind']): StoreHarness {
  const opened: KyselyStore[] = [];
  const databases: TestDatabase[] = [];
  let database: TestDatabase | undefined;
  let store: KyselyStore | undefined;

  async function open(): Promise<KyselyStore> {
    const s = await openStore(database!.url);
    opened.push(s);
    return s;
  }
  async function cleanUp(): Promise<void> {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await Promise.all(databases.splice(0).map((d) => d.drop()));
  }

  beforeEach(async () => {
    database = await createTestDatabase(kind);
    databases.push(database);
    store = await open();
  });
  afterEach(cleanUp);
  afterAll(cleanUp);

  return {
    get store() {
      return store!;
    },
    get database() {
      return database!;
    },
    async peers(n) {
      const stores = [store!];
      // One at a time: opening runs the migrator, which is not meant to race itself.
      while (stores.length < n) stores.push(await open());
      return stores;
    },
  };
}

/** Starts `n` calls at once, spread round-robin over `stores`, and waits for all of them. */
export function race<T>(stores: KyselyStore[], n: number, call: (store: KyselyStore, i: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => call(stores[i % stores.length]!, i)));
}
