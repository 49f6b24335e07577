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

/**
 * Runs a command against the store the flags name. It works while a server runs on the same store:
 * SQLite in WAL mode and PostgreSQL both allow it, and the server re-reads what changed.
 */
export async function withContext<T>(opts: StoreOptions, run: (ctx: ServerContext) => Promise<T>): Promise<T> {
  // Only the server decides which key signs; a command must never rotate it as a side effect.
  const ctx = await openContext(cliConfig(opts), pino({ level: 'silent' }), { ensureSigningKey: false });
  try {
    return await run(ctx);
  } finally {
    await ctx.store.close();
  }
}
