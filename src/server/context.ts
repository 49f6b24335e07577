import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { MasterKeyRing } from '../crypto/seal.js';
import type { SigningKeys } from '../crypto/signing-keys.js';
import type { Refresher } from '../broker/refresh.js';
import type { Metrics } from '../runtime/metrics.js';
import type { Store } from '../store/store.js';

/** What every handler of the authorization server works with. */
export interface ServerContext {
  config: Config;
  store: Store;
  keys: SigningKeys;
  masterKeys: MasterKeyRing;
  logger: Logger;
  /** Epoch milliseconds; injectable so that expiry can be tested without waiting. */
  now: () => number;
  /** Refreshes broker connections once per process however many callers ask. */
  refresher: Refresher;
  metrics: Metrics;
}

/** How long a retired signing key stays published: until every token it signed has expired. */
export function signingKeyPublishMs(config: Config): number {
  return (config.accessTokenTtlSeconds + 300) * 1000;
}
