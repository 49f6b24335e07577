import type {
  AccessTokenRecord,
  ApiKeyRecord,
  ApiRecord,
  AuditEvent,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  InteractionRecord,
  LockLease,
  PurgeCounts,
  Redemption,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from './records.js';
import type { BrokerStores } from './broker-store.js';

/** Fields of a client that an update may change. */
export type ClientPatch = Partial<Pick<ClientRecord, 'name' | 'secretHash' | 'redirectUris' | 'grantTypes' | 'scopes' | 'authMethod' | 'previousSecretHash' | 'previousSecretExpiresAt'>>;
export type ApiPatch = Partial<Pick<ApiRecord, 'name' | 'scopes' | 'isDefault'>>;

export interface TokenIssue {
  /** A refresh token to store with the grant, or none. */
  refreshToken: RefreshTokenRecord | null;
  accessToken: AccessTokenRecord;
}

export interface PurgeRetention {
  /** How long a retired signing key stays (and is published) after it stopped signing. */
  signingKeysMs: number;
  /** How long a code is remembered after it expired, so that a late replay still revokes its tokens. */
  consumedCodesMs: number;
  /** How long finished webhook deliveries stay in the delivery log. */
  deliveryLogMs: number;
  /** How long audit events are kept. */
  auditMs: number;
  /** How long a refresh answer stays sealed for a retry (the reuse grace window). */
  refreshReissueMs: number;
}

/** Why an access token is no longer good, as far as the store knows. */
export interface AccessTokenState {
  revoked: boolean;
}

export interface ApiStore {
  create(api: ApiRecord): Promise<void>;
  update(id: string, patch: ApiPatch, now: number): Promise<ApiRecord | undefined>;
  get(id: string): Promise<ApiRecord | undefined>;
  getByIdentifier(identifier: string): Promise<ApiRecord | undefined>;
  getDefault(): Promise<ApiRecord | undefined>;
  list(): Promise<ApiRecord[]>;
  /** Deletes the API and revokes every grant, code and consent for it. */
  delete(id: string, now: number): Promise<boolean>;
}

export interface ClientStore {
  create(client: ClientRecord): Promise<void>;
  get(id: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  update(id: string, patch: ClientPatch, now: number): Promise<ClientRecord | undefined>;
  /** Deletes the client with everything issued to it. */
  delete(id: string): Promise<boolean>;
}

export interface UserStore {
  create(user: UserRecord): Promise<void>;
  get(id: string): Promise<UserRecord | undefined>;
  getByUsername(username: string): Promise<UserRecord | undefined>;
  list(): Promise<UserRecord[]>;
  /** Deletes the user, signs them out and revokes every grant they made. */
  delete(id: string, now: number): Promise<boolean>;
}

export interface ApiKeyStore {
  create(key: ApiKeyRecord): Promise<void>;
  getByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  delete(id: string): Promise<boolean>;
}

export interface SigningKeyStore {
  list(): Promise<SigningKeyRecord[]>;
  /** Retires every signing key and makes `key` the one that signs, in one transaction. */
  rotate(key: SigningKeyRecord, now: number): Promise<void>;
  /** Adds the first key unless one exists already (two processes starting at once). */
  insertFirst(key: SigningKeyRecord): Promise<boolean>;
}

/** Codes, grants, refresh tokens and access tokens: everything the token endpoint issues. */
export interface TokenStore {
  insertCode(code: AuthorizationCodeRecord): Promise<void>;
  findCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined>;
  /** Consumes the code and, if this caller won, stores its grant and tokens in the same transaction. */
  redeemCode(codeHash: string, now: number, grant: GrantRecord, issue: TokenIssue): Promise<Redemption<AuthorizationCodeRecord>>;

  findRefreshToken(tokenHash: string): Promise<{ token: RefreshTokenRecord; grant: GrantRecord } | undefined>;
  /** Consumes a refresh token and stores its successor, in one transaction. */
  rotateRefreshToken(tokenHash: string, now: number, issue: TokenIssue): Promise<Redemption<RefreshTokenRecord>>;

  /** A grant with tokens issued without a code (client credentials issue none: no write at all). */
  getGrant(id: string): Promise<GrantRecord | undefined>;
  revokeGrant(id: string, now: number): Promise<void>;
  /** Revokes every grant of a user to a client, and forgets the consent. */
  revokeUserClient(userId: string, clientId: string, now: number): Promise<void>;

  /** Records the revocation of one access token (it may not have been recorded when issued). */
  revokeAccessToken(token: AccessTokenRecord, now: number): Promise<void>;
  accessTokenState(jti: string): Promise<AccessTokenState>;
}

export interface ConsentStore {
  get(userId: string, clientId: string, resource: string): Promise<ConsentRecord | undefined>;
  save(consent: ConsentRecord): Promise<void>;
  list(userId: string): Promise<ConsentRecord[]>;
}

export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  get(idHash: string, now: number): Promise<SessionRecord | undefined>;
  delete(idHash: string): Promise<void>;
}

export interface InteractionStore {
  create(interaction: InteractionRecord): Promise<void>;
  get(id: string, now: number): Promise<InteractionRecord | undefined>;
  /** Removes it and says whether this caller was the one who did (so a consent is answered once). */
  take(id: string, now: number): Promise<InteractionRecord | undefined>;
}

/** A fixed window's count so far and when the window ends (epoch ms). */
export interface RateWindow {
  count: number;
  windowEnd: number;
}

export interface RateLimitStore {
  /** Counts one more event for `key` in a fixed window, atomically, and returns the window so far. */
  count(key: string, windowMs: number, now: number): Promise<RateWindow>;
  /** The windows still open among `keys`, in one read; a key with none is absent. */
  peek(keys: string[], now: number): Promise<Map<string, RateWindow>>;
  /** Takes back one counted event (an attempt that turned out to be legitimate). */
  uncount(key: string): Promise<void>;
  clear(key: string): Promise<void>;
}

export interface PoolState {
  total: number;
  idle: number;
  waiting: number;
}

export interface AuditQuery {
  type?: string;
  /** Only events at or after this time (epoch ms). */
  since?: number;
  limit: number;
}

export interface AuditStore {
  record(event: AuditEvent): Promise<void>;
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
}

/**
 * Lease locks that hold across processes sharing the database. Leases are timed by the database's
 * clock, never a process's, and each acquisition gets a fencing token larger than any before it for
 * that name: a write guarded by `isHeld` is refused once another holder has taken the lock over.
 */
export interface LockStore {
  /** Takes `name` for `ttlMs` if it is free or its lease ran out; undefined when someone else holds it. */
  acquire(name: string, owner: string, ttlMs: number): Promise<LockLease | undefined>;
  /** Extends a lease still held; false when it was lost. */
  renew(lease: LockLease, ttlMs: number): Promise<boolean>;
  /**
   * True while no one has taken the lock over from `lease`. Inside a transaction on PostgreSQL the
   * lock row is locked until commit, so a takeover waits for the guarded write to finish.
   */
  isHeld(lease: LockLease): Promise<boolean>;
  release(lease: LockLease): Promise<void>;
}

/**
 * Everything Latchkey persists, behind one interface with a SQLite and a PostgreSQL implementation,
 * in parts by area that share one database handle. Single-use things (codes, refresh tokens, states)
 * are consumed by one atomic statement, so of any number of concurrent callers exactly one wins, on
 * either database and across processes.
 */
export interface Store extends BrokerStores {
  readonly dialect: 'sqlite' | 'postgres';
  readonly apis: ApiStore;
  readonly clients: ClientStore;
  readonly users: UserStore;
  readonly apiKeys: ApiKeyStore;
  readonly signingKeys: SigningKeyStore;
  readonly tokens: TokenStore;
  readonly consents: ConsentStore;
  readonly sessions: SessionStore;
  readonly interactions: InteractionStore;
  readonly rateLimits: RateLimitStore;
  readonly locks: LockStore;
  readonly audit: AuditStore;

  /**
   * Runs `work` in one transaction: every part of the `tx` it gets writes through it, and all of it
   * commits or none does. Never make network calls inside: on SQLite the transaction holds the
   * database's single writer.
   */
  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T>;

  /** Resolves when the database answers a trivial query; for readiness checks. */
  ping(): Promise<void>;

  /** The connection pool's state, where there is a pool (PostgreSQL). */
  poolState(): PoolState | undefined;

  /** Deletes what has expired, so tables do not grow without bound. */
  purgeExpired(now: number, retention: PurgeRetention): Promise<PurgeCounts>;

  close(): Promise<void>;
}
