import { Migrator, sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations.js';
import type { PurgeCounts } from './records.js';
import type { PoolState, PurgeRetention, Store } from './store.js';
import { KyselyApiStore } from './areas/apis.js';
import { KyselyAuditStore } from './areas/audit.js';
import { KyselyClientStore } from './areas/clients.js';
import { KyselyConnectionStore } from './areas/connections.js';
import { atomic, type Db } from './areas/db.js';
import { KyselyLockStore } from './areas/locks.js';
import { KyselyOAuthStateStore } from './areas/oauth-states.js';
import { KyselyProviderStore } from './areas/providers.js';
import { KyselySealedValueStore } from './areas/sealed-values.js';
import { KyselyConsentStore, KyselyInteractionStore, KyselyRateLimitStore, KyselySessionStore } from './areas/sessions.js';
import { KyselySigningKeyStore } from './areas/signing-keys.js';
import { KyselyTokenStore } from './areas/tokens.js';
import { KyselyApiKeyStore, KyselyUserStore } from './areas/users.js';
import { KyselyWebhookStore } from './areas/webhooks.js';

/** How long a released or lapsed lock row is kept: its fence must keep growing while a holder may be stale. */
const LOCK_ROW_RETENTION_MS = 3600_000;

/**
 * The store on Kysely: one part per area, all writing through one handle, which is the pool or, inside
 * `transaction`, that transaction. Both databases run the same statements; the dialect files only
 * open connections and map types.
 */
export class KyselyStore implements Store {
  readonly apis;
  readonly clients;
  readonly users;
  readonly apiKeys;
  readonly signingKeys;
  readonly tokens;
  readonly consents;
  readonly sessions;
  readonly interactions;
  readonly rateLimits;
  readonly locks;
  readonly audit;
  readonly providers;
  readonly connections;
  readonly oauthStates;
  readonly webhooks;
  readonly sealedValues;

  constructor(
    readonly db: Db,
    readonly dialect: 'sqlite' | 'postgres',
    private readonly pool?: () => PoolState,
  ) {
    this.apis = new KyselyApiStore(db);
    this.clients = new KyselyClientStore(db);
    this.users = new KyselyUserStore(db);
    this.apiKeys = new KyselyApiKeyStore(db);
    this.signingKeys = new KyselySigningKeyStore(db, dialect);
    this.tokens = new KyselyTokenStore(db);
    this.consents = new KyselyConsentStore(db);
    this.sessions = new KyselySessionStore(db);
    this.interactions = new KyselyInteractionStore(db);
    this.rateLimits = new KyselyRateLimitStore(db);
    this.locks = new KyselyLockStore(db, dialect);
    this.audit = new KyselyAuditStore(db);
    this.providers = new KyselyProviderStore(db);
    this.connections = new KyselyConnectionStore(db);
    this.oauthStates = new KyselyOAuthStateStore(db);
    this.webhooks = new KyselyWebhookStore(db);
    this.sealedValues = new KyselySealedValueStore(db);
  }

  transaction<T>(work: (tx: Store) => Promise<T>): Promise<T> {
    return atomic(this.db, (tx) => work(new KyselyStore(tx, this.dialect)));
  }

  async migrate(): Promise<void> {
    const db = this.db as Kysely<Database>;
    // Without a schema, Kysely's migrator looks for its tables in every schema of a PostgreSQL
    // database: a second schema (another instance, a parallel test) would be taken as migrated.
    const migrationTableSchema = this.dialect === 'postgres' ? await this.currentSchema() : undefined;
    const migrator = new Migrator({
      db,
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

  poolState(): PoolState | undefined {
    return this.pool?.();
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await (this.db as Kysely<Database>).destroy();
  }

  async purgeExpired(now: number, retention: PurgeRetention): Promise<PurgeCounts> {
    const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);
    return atomic(this.db, async (tx) => ({
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
      locks: count(await tx.deleteFrom('locks').where('expires_at', '<=', now - LOCK_ROW_RETENTION_MS).executeTakeFirst()),
      oauthStates: count(await tx.deleteFrom('oauth_states').where('expires_at', '<=', now).executeTakeFirst()),
      webhookDeliveries: count(
        await tx.deleteFrom('webhook_deliveries').where('status', '<>', 'pending').where('created_at', '<=', now - retention.deliveryLogMs).executeTakeFirst(),
      ),
      auditEvents: count(await tx.deleteFrom('audit_events').where('at', '<=', now - retention.auditMs).executeTakeFirst()),
      refreshReissues: Number(
        (
          await tx
            .updateTable('refresh_tokens')
            .set({ reissue_sealed: null })
            .where('reissue_sealed', 'is not', null)
            .where('created_at', '<=', now - retention.refreshReissueMs)
            .executeTakeFirst()
        ).numUpdatedRows,
      ),
    }));
  }
}
