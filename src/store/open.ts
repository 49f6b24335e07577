import { KyselyStore } from './kysely-store.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';

/** Opens the store a `--database-url` names, applying pending migrations. */
export async function openStore(databaseUrl: string): Promise<KyselyStore> {
  if (databaseUrl.startsWith('sqlite:')) return openSqliteStore(databaseUrl.slice('sqlite:'.length));
  return openPostgresStore(databaseUrl);
}
