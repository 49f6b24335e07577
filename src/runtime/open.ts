import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { Refresher } from '../broker/refresh.js';
import { SigningKeys } from '../crypto/signing-keys.js';
import { openStore } from '../store/open.js';
import { signingKeyPublishMs, type ServerContext } from '../server/context.js';
import { loadMasterKeys } from './master-key.js';
import { Metrics } from './metrics.js';

export interface OpenOptions {
  /** Creates the first signing key, or rotates to `config.signingAlg` if it changed. Off for workers. */
  ensureSigningKey: boolean;
  now?: () => number;
}

/** Opens the store, the master key and the signing keys: everything a server or CLI command works on. */
export async function openContext(config: Config, logger: Logger, options: OpenOptions): Promise<ServerContext> {
  const now = options.now ?? Date.now;
  const masterKeys = loadMasterKeys(config, (message) => process.stderr.write(message + '\n'));
  const store = await openStore(config.databaseUrl, config.http.requestTimeoutMs);
  try {
    const keys = new SigningKeys(store, masterKeys, signingKeyPublishMs(config));
    if (options.ensureSigningKey) await keys.ensure(config.signingAlg, now());
    else await keys.reload(now());
    // The refresher needs the context it belongs to.
    const ctx = { config, store, keys, masterKeys, logger, now, metrics: new Metrics(store) } as unknown as ServerContext;
    ctx.refresher = new Refresher(ctx);
    return ctx;
  } catch (err) {
    await store.close();
    throw err;
  }
}
