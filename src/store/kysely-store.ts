import { Migrator, sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations.js';
import type {
  AccessTokenRecord,
  ApiKeyRecord,
  ApiRecord,
  AuthorizationCodeRecord,
  ClientAuthMethod,
  ClientRecord,
  ConsentRecord,
  GrantRecord,
  GrantType,
  InteractionRecord,
  PurgeCounts,
  Redemption,
  RefreshTokenRecord,
  SessionRecord,
  SigningKeyRecord,
  UserRecord,
} from './records.js';
import type { AccessTokenState, ApiPatch, ClientPatch, PurgeRetention, Store, TokenIssue } from './store.js';

type Row<T extends keyof Database> = Selectable<Database[T]>;
type Db = Kysely<Database> | Transaction<Database>;
/** Columns that pick the grants to revoke; all given ones must match. */
type GrantMatch = Partial<Pick<Row<'grants'>, 'id' | 'user_id' | 'client_id' | 'resource'>>;

const flag = (b: boolean): number => (b ? 1 : 0);
const list = <T>(text: string): T[] => JSON.parse(text) as T[];

const toApi = (r: Row<'apis'>): ApiRecord => ({
  id: r.id,
  identifier: r.identifier,
  name: r.name,
  scopes: list(r.scopes),
  isDefault: r.is_default === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toClient = (r: Row<'clients'>): ClientRecord => ({
  id: r.id,
  name: r.name,
  secretHash: r.secret_hash,
  isPublic: r.is_public === 1,
  authMethod: r.auth_method as ClientAuthMethod | null,
  redirectUris: list(r.redirect_uris),
  grantTypes: list<GrantType>(r.grant_types),
  scopes: list(r.scopes),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toUser = (r: Row<'users'>): UserRecord => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  isAdmin: r.is_admin === 1,
  createdAt: r.created_at,
});

const toApiKey = (r: Row<'api_keys'>): ApiKeyRecord => ({ id: r.id, name: r.name, keyHash: r.key_hash, createdAt: r.created_at });

const toSigningKey = (r: Row<'signing_keys'>): SigningKeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  publicJwk: r.public_jwk,
  privateSealed: r.private_sealed,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
});

const toGrant = (r: Row<'grants'>): GrantRecord => ({
  id: r.id,
  clientId: r.client_id,
  userId: r.user_id,
  scopes: list(r.scopes),
  resource: r.resource,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

const toCode = (r: Row<'authorization_codes'>): AuthorizationCodeRecord => ({
  codeHash: r.code_hash,
  grantId: r.grant_id,
  clientId: r.client_id,
  userId: r.user_id,
  redirectUri: r.redirect_uri,
  scopes: list(r.scopes),
  resource: r.resource,
  codeChallenge: r.code_challenge,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
});

const toRefreshToken = (r: Row<'refresh_tokens'>): RefreshTokenRecord => ({
  tokenHash: r.token_hash,
  grantId: r.grant_id,
  clientId: r.client_id,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
});

const toConsent = (r: Row<'consents'>): ConsentRecord => ({
  userId: r.user_id,
  clientId: r.client_id,
  resource: r.resource,
  scopes: list(r.scopes),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toInteraction = (r: Row<'interactions'>): InteractionRecord => ({
  id: r.id,
  sessionHash: r.session_hash,
  request: r.request,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

/**
 * The store on Kysely. Both databases run the same statements: atomic consumption is
 * `UPDATE … WHERE consumed_at IS NULL RETURNING`, which on PostgreSQL takes a row lock (a concurrent
 * caller waits, re-checks the condition and finds nothing) and on SQLite runs under the database's
 * single write lock. The dialect files only open connections and map types.
 */
export class KyselyStore implements Store {
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async migrate(): Promise<void> {
    // Without a schema, Kysely's migrator looks for its tables in every schema of a PostgreSQL
    // database: a second schema (another instance, a parallel test) would be taken as migrated.
    const migrationTableSchema = this.dialect === 'postgres' ? await this.currentSchema() : undefined;
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider,
      migrationTableName: 'latchkey_migrations',
      migrationLockTableName: 'latchkey_migrations_lock',
      ...(migrationTableSchema !== undefined && { migrationTableSchema }),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** The schema unqualified names resolve to (the first of the search_path that exists). */
  private async currentSchema(): Promise<string | undefined> {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(this.db);
    return rows[0]?.schema ?? undefined;
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // APIs

  async createApi(api: ApiRecord): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      if (api.isDefault) await tx.updateTable('apis').set({ is_default: 0 }).execute();
      await tx
        .insertInto('apis')
        .values({
          id: api.id,
          identifier: api.identifier,
          name: api.name,
          scopes: JSON.stringify(api.scopes),
          is_default: flag(api.isDefault),
          created_at: api.createdAt,
          updated_at: api.updatedAt,
        })
        .execute();
    });
  }

  async updateApi(id: string, patch: ApiPatch, now: number): Promise<ApiRecord | undefined> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx
        .updateTable('apis')
        .set({
          ...(patch.name !== undefined && { name: patch.name }),
          ...(patch.scopes !== undefined && { scopes: JSON.stringify(patch.scopes) }),
          ...(patch.isDefault !== undefined && { is_default: flag(patch.isDefault) }),
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      // Only once the API is known to exist, so updating a missing one leaves the default alone.
      if (patch.isDefault) await tx.updateTable('apis').set({ is_default: 0 }).where('id', '<>', id).where('is_default', '=', 1).execute();
      return toApi(row);
    });
  }

  async getApi(id: string): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApi(row);
  }

  async getApiByIdentifier(identifier: string): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('identifier', '=', identifier).executeTakeFirst();
    return row && toApi(row);
  }

  async getDefaultApi(): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('is_default', '=', 1).executeTakeFirst();
    return row && toApi(row);
  }

  async listApis(): Promise<ApiRecord[]> {
    return (await this.db.selectFrom('apis').selectAll().orderBy('created_at').orderBy('id').execute()).map(toApi);
  }

  async deleteApi(id: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const api = await tx.deleteFrom('apis').where('id', '=', id).returning('identifier').executeTakeFirst();
      if (!api) return false;
      // Tokens for an API that no longer exists must not keep coming.
      await this.revokeGrants(tx, { resource: api.identifier }, now);
      await tx.deleteFrom('authorization_codes').where('resource', '=', api.identifier).execute();
      await tx.deleteFrom('consents').where('resource', '=', api.identifier).execute();
      return true;
    });
  }

  // Clients

  async createClient(c: ClientRecord): Promise<void> {
    await this.db
      .insertInto('clients')
      .values({
        id: c.id,
        name: c.name,
        secret_hash: c.secretHash,
        is_public: flag(c.isPublic),
        auth_method: c.authMethod,
        redirect_uris: JSON.stringify(c.redirectUris),
        grant_types: JSON.stringify(c.grantTypes),
        scopes: JSON.stringify(c.scopes),
        created_at: c.createdAt,
        updated_at: c.updatedAt,
      })
      .execute();
  }

  async getClient(id: string): Promise<ClientRecord | undefined> {
    const row = await this.db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toClient(row);
  }

  async listClients(): Promise<ClientRecord[]> {
    return (await this.db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('id').execute()).map(toClient);
  }

  async updateClient(id: string, patch: ClientPatch, now: number): Promise<ClientRecord | undefined> {
    const row = await this.db
      .updateTable('clients')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.secretHash !== undefined && { secret_hash: patch.secretHash }),
        ...(patch.authMethod !== undefined && { auth_method: patch.authMethod }),
        ...(patch.redirectUris !== undefined && { redirect_uris: JSON.stringify(patch.redirectUris) }),
        ...(patch.grantTypes !== undefined && { grant_types: JSON.stringify(patch.grantTypes) }),
        ...(patch.scopes !== undefined && { scopes: JSON.stringify(patch.scopes) }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toClient(row);
  }

  async deleteClient(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const grantIds = tx.selectFrom('grants').select('id').where('client_id', '=', id);
      await tx.deleteFrom('refresh_tokens').where('grant_id', 'in', grantIds).execute();
      await tx.deleteFrom('authorization_codes').where('client_id', '=', id).execute();
      await tx.deleteFrom('consents').where('client_id', '=', id).execute();
      await tx.deleteFrom('grants').where('client_id', '=', id).execute();
      // Access tokens already issued stay verifiable offline until they expire; introspection
      // refuses them because their client is gone.
      const result = await tx.deleteFrom('clients').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  // Users

  async createUser(u: UserRecord): Promise<void> {
    await this.db
      .insertInto('users')
      .values({ id: u.id, username: u.username, password_hash: u.passwordHash, is_admin: flag(u.isAdmin), created_at: u.createdAt })
      .execute();
  }

  async getUser(id: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async getUserByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').execute()).map(toUser);
  }

  async deleteUser(id: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await this.revokeGrants(tx, { user_id: id }, now);
      await tx.deleteFrom('consents').where('user_id', '=', id).execute();
      await tx.deleteFrom('sessions').where('user_id', '=', id).execute();
      const result = await tx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  // API keys

  async createApiKey(k: ApiKeyRecord): Promise<void> {
    await this.db.insertInto('api_keys').values({ id: k.id, name: k.name, key_hash: k.keyHash, created_at: k.createdAt }).execute();
  }

  async getApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
    return row && toApiKey(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(toApiKey);
  }

  async deleteApiKey(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('api_keys').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  // Signing keys

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    return (await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute()).map(toSigningKey);
  }

  private insertSigningKey(db: Db, key: SigningKeyRecord) {
    return db
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        alg: key.alg,
        public_jwk: key.publicJwk,
        private_sealed: key.privateSealed,
        created_at: key.createdAt,
        retired_at: key.retiredAt,
      })
      .execute();
  }

  async rotateSigningKey(key: SigningKeyRecord, now: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).execute();
      await this.insertSigningKey(tx, key);
    });
  }

  async insertFirstSigningKey(key: SigningKeyRecord): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      // Serializes concurrent first starts: PostgreSQL through the lock row, SQLite through its write lock.
      const won = await this.takeLease(tx, 'signing-keys:first', key.kid, 30_000, key.createdAt);
      if (!won) return false;
      const existing = await tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
      if (existing) return false;
      await this.insertSigningKey(tx, key);
      return true;
    });
  }

  async updateSealedSigningKey(kid: string, privateSealed: string): Promise<void> {
    await this.db.updateTable('signing_keys').set({ private_sealed: privateSealed }).where('kid', '=', kid).execute();
  }

  // Codes, grants, tokens

  async insertCode(c: AuthorizationCodeRecord): Promise<void> {
    await this.db
      .insertInto('authorization_codes')
      .values({
        code_hash: c.codeHash,
        grant_id: c.grantId,
        client_id: c.clientId,
        user_id: c.userId,
        redirect_uri: c.redirectUri,
        scopes: JSON.stringify(c.scopes),
        resource: c.resource,
        code_challenge: c.codeChallenge,
        created_at: c.createdAt,
        expires_at: c.expiresAt,
        consumed_at: c.consumedAt,
      })
      .execute();
  }

  async findCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined> {
    const row = await this.db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
    return row && toCode(row);
  }

  private async storeIssue(tx: Db, issue: TokenIssue): Promise<void> {
    if (issue.refreshToken) {
      const r = issue.refreshToken;
      await tx
        .insertInto('refresh_tokens')
        .values({ token_hash: r.tokenHash, grant_id: r.grantId, client_id: r.clientId, created_at: r.createdAt, expires_at: r.expiresAt, consumed_at: null })
        .execute();
    }
    const a = issue.accessToken;
    await tx.insertInto('access_tokens').values({ jti: a.jti, grant_id: a.grantId, client_id: a.clientId, expires_at: a.expiresAt, revoked_at: null }).execute();
  }

  async redeemCode(codeHash: string, now: number, grant: GrantRecord, issue: TokenIssue): Promise<Redemption<AuthorizationCodeRecord>> {
    return this.db.transaction().execute(async (tx) => {
      const won = await tx
        .updateTable('authorization_codes')
        .set({ consumed_at: now })
        .where('code_hash', '=', codeHash)
        .where('consumed_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!won) {
        const row = await tx.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
        return row ? { outcome: 'already_consumed', record: toCode(row) } : { outcome: 'not_found' };
      }
      await tx
        .insertInto('grants')
        .values({
          id: grant.id,
          client_id: grant.clientId,
          user_id: grant.userId,
          scopes: JSON.stringify(grant.scopes),
          resource: grant.resource,
          created_at: grant.createdAt,
          expires_at: grant.expiresAt,
          revoked_at: null,
        })
        .execute();
      await this.storeIssue(tx, issue);
      return { outcome: 'redeemed', record: toCode(won) };
    });
  }

  async findRefreshToken(tokenHash: string): Promise<{ token: RefreshTokenRecord; grant: GrantRecord } | undefined> {
    const token = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!token) return undefined;
    const grant = await this.db.selectFrom('grants').selectAll().where('id', '=', token.grant_id).executeTakeFirst();
    return grant && { token: toRefreshToken(token), grant: toGrant(grant) };
  }

  async rotateRefreshToken(tokenHash: string, now: number, issue: TokenIssue): Promise<Redemption<RefreshTokenRecord>> {
    return this.db.transaction().execute(async (tx) => {
      const won = await tx
        .updateTable('refresh_tokens')
        .set({ consumed_at: now })
        .where('token_hash', '=', tokenHash)
        .where('consumed_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!won) {
        const row = await tx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
        return row ? { outcome: 'already_consumed', record: toRefreshToken(row) } : { outcome: 'not_found' };
      }
      // Extends the grant's life with its newest refresh token, so cleanup keeps it while it is in use.
      await tx
        .updateTable('grants')
        .set({ expires_at: issue.refreshToken?.expiresAt ?? now })
        .where('id', '=', won.grant_id)
        .where('expires_at', '<', issue.refreshToken?.expiresAt ?? now)
        .execute();
      await this.storeIssue(tx, issue);
      return { outcome: 'redeemed', record: toRefreshToken(won) };
    });
  }

  async getGrant(id: string): Promise<GrantRecord | undefined> {
    const row = await this.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toGrant(row);
  }

  /**
   * Revokes every grant matching all of `match`: marks it revoked (keeping an earlier revocation
   * time) and deletes its refresh tokens, so its access tokens are refused and nothing refreshes.
   */
  private async revokeGrants(tx: Transaction<Database>, match: GrantMatch, now: number): Promise<void> {
    const grantIds = tx.selectFrom('grants').select('id').where((eb) => eb.and(match));
    await tx.deleteFrom('refresh_tokens').where('grant_id', 'in', grantIds).execute();
    await tx.updateTable('grants').set({ revoked_at: now }).where((eb) => eb.and(match)).where('revoked_at', 'is', null).execute();
  }

  async revokeGrant(id: string, now: number): Promise<void> {
    await this.db.transaction().execute((tx) => this.revokeGrants(tx, { id }, now));
  }

  async revokeUserClient(userId: string, clientId: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await this.revokeGrants(tx, { user_id: userId, client_id: clientId }, now);
      await tx.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
    });
  }

  async revokeAccessToken(t: AccessTokenRecord, now: number): Promise<void> {
    await this.db
      .insertInto('access_tokens')
      .values({ jti: t.jti, grant_id: t.grantId, client_id: t.clientId, expires_at: t.expiresAt, revoked_at: now })
      .onConflict((oc) => oc.column('jti').doUpdateSet({ revoked_at: now }))
      .execute();
  }

  async accessTokenState(jti: string): Promise<AccessTokenState> {
    const row = await this.db
      .selectFrom('access_tokens as a')
      .leftJoin('grants as g', 'g.id', 'a.grant_id')
      .select(['a.revoked_at as tokenRevokedAt', 'a.grant_id as grantId', 'g.revoked_at as grantRevokedAt', 'g.id as grantFound'])
      .where('a.jti', '=', jti)
      .executeTakeFirst();
    if (!row) return { revoked: false };
    const grantGone = row.grantId !== null && (row.grantFound === null || row.grantRevokedAt !== null);
    return { revoked: row.tokenRevokedAt !== null || grantGone };
  }

  // Consents

  async getConsent(userId: string, clientId: string, resource: string): Promise<ConsentRecord | undefined> {
    const row = await this.db
      .selectFrom('consents')
      .selectAll()
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('resource', '=', resource)
      .executeTakeFirst();
    return row && toConsent(row);
  }

  async saveConsent(c: ConsentRecord): Promise<void> {
    await this.db
      .insertInto('consents')
      .values({ user_id: c.userId, client_id: c.clientId, resource: c.resource, scopes: JSON.stringify(c.scopes), created_at: c.createdAt, updated_at: c.updatedAt })
      .onConflict((oc) => oc.columns(['user_id', 'client_id', 'resource']).doUpdateSet({ scopes: JSON.stringify(c.scopes), updated_at: c.updatedAt }))
      .execute();
  }

  async listConsents(userId: string): Promise<ConsentRecord[]> {
    return (await this.db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('created_at').execute()).map(toConsent);
  }

  // Sessions and interactions

  async createSession(s: SessionRecord): Promise<void> {
    await this.db.insertInto('sessions').values({ id_hash: s.idHash, user_id: s.userId, created_at: s.createdAt, expires_at: s.expiresAt }).execute();
  }

  async getSession(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).where('expires_at', '>', now).executeTakeFirst();
    return row && { idHash: row.id_hash, userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async createInteraction(i: InteractionRecord): Promise<void> {
    await this.db
      .insertInto('interactions')
      .values({ id: i.id, session_hash: i.sessionHash, request: i.request, created_at: i.createdAt, expires_at: i.expiresAt })
      .execute();
  }

  async getInteraction(id: string, now: number): Promise<InteractionRecord | undefined> {
    const row = await this.db.selectFrom('interactions').selectAll().where('id', '=', id).where('expires_at', '>', now).executeTakeFirst();
    return row && toInteraction(row);
  }

  async takeInteraction(id: string, now: number): Promise<InteractionRecord | undefined> {
    const row = await this.db.deleteFrom('interactions').where('id', '=', id).where('expires_at', '>', now).returningAll().executeTakeFirst();
    return row && toInteraction(row);
  }

  // Rate limits

  async countEvent(key: string, windowMs: number, now: number): Promise<number> {
    const row = await this.db
      .insertInto('rate_limits')
      .values({ key, count: 1, window_end: now + windowMs })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          count: eb.case().when('rate_limits.window_end', '<=', now).then(1).else(eb('rate_limits.count', '+', 1)).end(),
          window_end: eb.case().when('rate_limits.window_end', '<=', now).then(now + windowMs).else(eb.ref('rate_limits.window_end')).end(),
        })),
      )
      .returning('count')
      .executeTakeFirstOrThrow();
    return row.count;
  }

  async peekEvents(key: string, now: number): Promise<number> {
    const row = await this.db.selectFrom('rate_limits').select('count').where('key', '=', key).where('window_end', '>', now).executeTakeFirst();
    return row?.count ?? 0;
  }

  async clearEvents(key: string): Promise<void> {
    await this.db.deleteFrom('rate_limits').where('key', '=', key).execute();
  }

  // Locks

  private async takeLease(db: Db, name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    const row = await db
      .insertInto('locks')
      .values({ name, owner, expires_at: now + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ owner, expires_at: now + ttlMs })
          .where((eb) => eb.or([eb('locks.expires_at', '<=', now), eb('locks.owner', '=', owner)])),
      )
      .returning('owner')
      .executeTakeFirst();
    return row?.owner === owner;
  }

  async acquireLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.takeLease(this.db, name, owner, ttlMs, now);
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom('locks').where('name', '=', name).where('owner', '=', owner).execute();
  }

  // Cleanup

  async purgeExpired(now: number, retention: PurgeRetention): Promise<PurgeCounts> {
    const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);
    return this.db.transaction().execute(async (tx) => ({
      codes: count(await tx.deleteFrom('authorization_codes').where('expires_at', '<=', now - retention.consumedCodesMs).executeTakeFirst()),
      refreshTokens: count(await tx.deleteFrom('refresh_tokens').where('expires_at', '<=', now).executeTakeFirst()),
      accessTokens: count(await tx.deleteFrom('access_tokens').where('expires_at', '<=', now).executeTakeFirst()),
      grants: count(await tx.deleteFrom('grants').where('expires_at', '<=', now).executeTakeFirst()),
      sessions: count(await tx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst()),
      interactions: count(await tx.deleteFrom('interactions').where('expires_at', '<=', now).executeTakeFirst()),
      rateLimits: count(await tx.deleteFrom('rate_limits').where('window_end', '<=', now).executeTakeFirst()),
      signingKeys: count(
        await tx.deleteFrom('signing_keys').where('retired_at', 'is not', null).where('retired_at', '<=', now - retention.signingKeysMs).executeTakeFirst(),
      ),
      locks: count(await tx.deleteFrom('locks').where('expires_at', '<=', now).executeTakeFirst()),
    }));
  }
}
