import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database as Schema } from './schema.js';
import { KyselyStore } from './kysely-store.js';

/**
 * SQLite through better-sqlite3, in WAL mode so that the CLI and the server (and several workers)
 * read and write one file at once. `busy_timeout` makes a writer wait for another process's write
 * lock instead of failing.
 */
export async function openSqliteStore(path: string): Promise<KyselyStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new SqliteDialect({ database }) }), 'sqlite');
  await store.migrate();
  return store;
}
