import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { resolveConfig, type Config } from '../config.js';
import { openContext } from '../runtime/open.js';
import type { ServerContext } from '../server/context.js';

export interface StoreOptions {
  dataDir?: string;
  databaseUrl?: string;
  json?: boolean;
  /** The server's public URL, for commands that print links to it. */
  issuer?: string;
}

export function cliConfig(opts: StoreOptions): Config {
  return resolveConfig({ dataDir: opts.dataDir, databaseUrl: opts.databaseUrl, issuer: opts.issuer }, process.env, 1);
}

/** The file of a `sqlite:PATH` database URL, absolute; undefined for PostgreSQL and in-memory SQLite. */
function sqliteFile(databaseUrl: string): string | undefined {
  if (!databaseUrl.startsWith('sqlite:')) return undefined;
  const path = databaseUrl.slice('sqlite:'.length);
  return path === ':memory:' ? undefined : resolve(path);
}

/**
 * Runs `open` and says on stderr if it created a new SQLite database. The default is
 * ./data/latchkey.db, so a command run from another directory would otherwise work on an empty
 * database of its own without a word. It is still created, so that commands work before the first
 * `serve`.
 */
export async function noticingNewDatabase<T>(databaseUrl: string, open: () => Promise<T>): Promise<T> {
  const file = sqliteFile(databaseUrl);
  const wasMissing = file !== undefined && !existsSync(file);
  try {
    return await open();
  } finally {
    if (wasMissing && existsSync(file)) process.stderr.write(`latchkey: created a new database at ${file} (pass --data-dir or --database-url to use another)\n`);
  }
}

/**
 * Runs a command against the store the flags name. It works while a server runs on the same store:
 * SQLite in WAL mode and PostgreSQL both allow it, and the server re-reads what changed.
 */
export async function withContext<T>(opts: StoreOptions, run: (ctx: ServerContext) => Promise<T>): Promise<T> {
  // Only the server decides which key signs; a command must never rotate it as a side effect.
  const config = cliConfig(opts);
  const ctx = await noticingNewDatabase(config.databaseUrl, () => openContext(config, pino({ level: 'silent' }), { ensureSigningKey: false }));
  try {
    return await run(ctx);
  } finally {
    await ctx.store.close();
  }
}
