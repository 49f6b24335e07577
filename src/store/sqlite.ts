import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import type { Database as Schema } from './schema.js';
import { KyselyStore } from './kysely-store.js';

/** How long a statement keeps retrying while another connection holds the write lock. */
const BUSY_TIMEOUT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * better-sqlite3 is synchronous, so SQLite's own `busy_timeout` would wait for the write lock with the
 * whole event loop blocked: a transaction of another connection in the same process (which awaits
 * between its statements) could then never finish, and every request of the process stalls meanwhile.
 * Statements that find the database busy are retried here instead, yielding between tries. A statement
 * is retried only when the failure left the connection's transaction state as it was, so a
 * transaction SQLite rolled back is never continued in autocommit mode.
 */
class BusyRetryingDriver extends SqliteDriver {
  constructor(private readonly database: Database.Database) {
    super({ database });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    const database = this.database;
    return {
      async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        const deadline = Date.now() + BUSY_TIMEOUT_MS;
        for (let attempt = 0; ; attempt++) {
          const inTransaction = database.inTransaction;
          try {
            return await connection.executeQuery<R>(query);
          } catch (error) {
            const busy = (error as { code?: unknown }).code === 'SQLITE_BUSY';
            if (!busy || database.inTransaction !== inTransaction || Date.now() >= deadline) throw error;
            await sleep(Math.min(2 ** attempt, 50));
          }
        }
      },
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
  }

  /**
   * Transactions take the write lock when they begin. A deferred one that read first (a guarded
   * write checks its lock, then writes) fails outright with SQLITE_BUSY when another connection
   * wrote in between, and no retry of the statement can mend that; a busy BEGIN IMMEDIATE is retried
   * like any statement outside a transaction.
   */
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class BusyRetryingSqliteDialect extends SqliteDialect {
  constructor(private readonly database: Database.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new BusyRetryingDriver(this.database);
  }
}

/**
 * SQLite through better-sqlite3, in WAL mode so that the CLI and the server (and several workers)
 * read and write one file at once. A writer waits for another connection's write lock instead of
 * failing, for up to BUSY_TIMEOUT_MS, without blocking the event loop (see BusyRetryingDriver).
 */
export async function openSqliteStore(path: string): Promise<KyselyStore> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new Database(path);
  // Setting the journal mode may wait for other connections; nothing of this process runs yet.
  database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 0');
  const store = new KyselyStore(new Kysely<Schema>({ dialect: new BusyRetryingSqliteDialect(database) }), 'sqlite');
  await store.migrate();
  return store;
}
