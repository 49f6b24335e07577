import pg from 'pg';
import { Kysely, PostgresDialect, sql, type DatabaseIntrospector, type DatabaseMetadata, type SchemaMetadata, type TableMetadata } from 'kysely';
import type { Database as Schema } from './schema.js';
import { KyselyStore } from './kysely-store.js';

const INT8_OID = 20;

/**
 * What the migrator asks of the database, answered for this instance's own schema only. Kysely's
 * stock introspector reads every schema's tables, and fails outright when another schema of the
 * database is dropped while it reads (another instance, a parallel test run). Column details are
 * left out: only the migrator uses this, to learn which of its tables exist.
 */
class OwnSchemaIntrospector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<unknown>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select current_schema() as name`.execute(this.db);
    return rows.filter((r) => r.name !== null);
  }

  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; schema: string; is_view: boolean }>`
      select c.relname as name, n.nspname as schema, c.relkind = 'v' as is_view
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v')`.execute(this.db);
    return rows.map((r) => ({ name: r.name, schema: r.schema, isView: r.is_view, columns: [] }));
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

class OwnSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new OwnSchemaIntrospector(db);
  }
}

/**
 * PostgreSQL through a `pg` pool. Times are `bigint` columns; epoch milliseconds fit a double
 * exactly, so they are read back as numbers rather than strings.
 */
export async function openPostgresStore(url: string, options: { migrate: boolean; waitTimeoutMs?: number } = { migrate: true }): Promise<KyselyStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    // Waiting for a free connection is bounded by half a request's time. A query already sent is
    // not timed out here: pg would then send the next query on the same connection and read the
    // late answer of the first as its own. The HTTP layer answers a request that takes too long.
    connectionTimeoutMillis: Math.max(1_000, Math.floor((options.waitTimeoutMs ?? 20_000) / 2)),
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // A client that loses its connection emits 'error'; without a listener the process would crash. The
  // pool listens only while a client is idle, so each client gets its own listener for the time it is
  // checked out: the query in flight fails on its own and the pool discards the client.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new OwnSchemaPostgresDialect({ pool }) }), 'postgres', () => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  }));
  if (options.migrate) await store.migrate();
  return store;
}
