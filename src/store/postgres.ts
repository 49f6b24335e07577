import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database as Schema } from './schema.js';
import { KyselyStore } from './kysely-store.js';

const INT8_OID = 20;

/**
 * PostgreSQL through a `pg` pool. Times are `bigint` columns; epoch milliseconds fit a double
 * exactly, so they are read back as numbers rather than strings.
 */
export async function openPostgresStore(url: string, options: { migrate: boolean } = { migrate: true }): Promise<KyselyStore> {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 10_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that loses its connection emits here; without a listener the process would crash.
  pool.on('error', () => undefined);
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) }), 'postgres');
  if (options.migrate) await store.migrate();
  return store;
}
