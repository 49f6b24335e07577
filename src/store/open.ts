import { KyselyStore } from './kysely-store.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';

/**
 * Opens the store a `--database-url` names, applying pending migrations. `waitTimeoutMs` (a
 * server's request timeout) bounds how long a request may wait for a PostgreSQL connection.
 */
export async function openStore(databaseUrl: string, waitTimeoutMs?: number): Promise<KyselyStore> {
  if (databaseUrl.startsWith('sqlite:')) return openSqliteStore(databaseUrl.slice('sqlite:'.length));
  return openPostgresStore(databaseUrl, { migrate: true, ...(waitTimeoutMs !== undefined && { waitTimeoutMs }) });
}
