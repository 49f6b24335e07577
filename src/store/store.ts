import type {
  AccessTokenRecord,
  ApiKeyRecord,
  ApiRecord,
  AuthorizationCodeRecord,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  InteractionRecord,
  PurgeCounts,
  Redemption,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from './records.js';

/** Fields of a client that an update may change. */
export type ClientPatch = Partial<Pick<ClientRecord, 'name' | 'secretHash' | 'redirectUris' | 'grantTypes' | 'scopes' | 'authMethod'>>;
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
}

/** Why an access token is no longer good, as far as the store knows. */
export interface AccessTokenState {
  revoked: boolean;
}

/**
 * Everything Latchkey persists, behind one interface with a SQLite and a PostgreSQL implementation.
 * Single-use things (codes, refresh tokens) are consumed by one atomic statement, so of any number of
 * concurrent callers exactly one wins, on either database and across processes.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';

  createApi(api: ApiRecord): Promise<void>;
  updateApi(id: string, patch: ApiPatch, now: number): Promise<ApiRecord | undefined>;
  getApi(id: string): Promise<ApiRecord | undefined>;
  getApiByIdentifier(identifier: string): Promise<ApiRecord | undefined>;
  getDefaultApi(): Promise<ApiRecord | undefined>;
  listApis(): Promise<ApiRecord[]>;
  /** Deletes the API and revokes every grant, code and consent for it. */
  deleteApi(id: string, now: number): Promise<boolean>;

  createClient(client: ClientRecord): Promise<void>;
  getClient(id: string): Promise<ClientRecord | undefined>;
  listClients(): Promise<ClientRecord[]>;
  updateClient(id: string, patch: ClientPatch, now: number): Promise<ClientRecord | undefined>;
  /** Deletes the client with everything issued to it. */
  deleteClient(id: string): Promise<boolean>;

  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | undefined>;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  /** Deletes the user, signs them out and revokes every grant they made. */
  deleteUser(id: string, now: number): Promise<boolean>;

  createApiKey(key: ApiKeyRecord): Promise<void>;
  getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  deleteApiKey(id: string): Promise<boolean>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Retires every signing key and makes `key` the one that signs, in one transaction. */
  rotateSigningKey(key: SigningKeyRecord, now: number): Promise<void>;
  /** Adds the first key unless one exists already (two processes starting at once). */
  insertFirstSigningKey(key: SigningKeyRecord): Promise<boolean>;
  updateSealedSigningKey(kid: string, privateSealed: string): Promise<void>;

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

  getConsent(userId: string, clientId: string, resource: string): Promise<ConsentRecord | undefined>;
  saveConsent(consent: ConsentRecord): Promise<void>;
  listConsents(userId: string): Promise<ConsentRecord[]>;

  createSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string, now: number): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;

  createInteraction(interaction: InteractionRecord): Promise<void>;
  getInteraction(id: string, now: number): Promise<InteractionRecord | undefined>;
  /** Removes it and says whether this caller was the one who did (so a consent is answered once). */
  takeInteraction(id: string, now: number): Promise<InteractionRecord | undefined>;

  /** Counts one more event for `key` in a fixed window and returns the count so far. */
  countEvent(key: string, windowMs: number, now: number): Promise<number>;
  peekEvents(key: string, now: number): Promise<number>;
  clearEvents(key: string): Promise<void>;

  /**
   * A lease lock that holds across processes sharing the database: true when `owner` now holds
   * `name` until `now + ttlMs`. An expired lease can be taken over, so a crashed holder blocks no one
   * for longer than its lease.
   */
  acquireLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  releaseLock(name: string, owner: string): Promise<void>;

  /** Deletes what has expired, so tables do not grow without bound. */
  purgeExpired(now: number, retention: PurgeRetention): Promise<PurgeCounts>;

  close(): Promise<void>;
}
