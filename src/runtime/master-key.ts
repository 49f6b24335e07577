import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { ConfigError } from '../config.js';
import { MasterKeyRing } from '../crypto/seal.js';

export const MASTER_KEY_FILE = 'master.key';

/**
 * The master key comes from LATCHKEY_MASTER_KEY. Without it, on SQLite only, one is generated into
 * the data directory on first start: fine for development, not for production, where the key must
 * live apart from the data it protects. PostgreSQL deployments run several processes that must share
 * one key, so there it is required.
 */
export function loadMasterKeys(config: Config, warn: (message: string) => void): MasterKeyRing {
  if (config.masterKey) return MasterKeyRing.parse(config.masterKey);
  if (!config.databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError('LATCHKEY_MASTER_KEY is required with PostgreSQL: every process must share it (32 random bytes, base64)');
  }
  const path = join(config.dataDir, MASTER_KEY_FILE);
  if (existsSync(path)) return MasterKeyRing.parse(readFileSync(path, 'utf8'));
  mkdirSync(config.dataDir, { recursive: true });
  writeFileSync(path, MasterKeyRing.generateText() + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  warn(
    `WARNING: LATCHKEY_MASTER_KEY is not set, so a master key was generated into ${path}.\n` +
      '         It is for development only: anyone with the data directory can open every secret.\n' +
      '         In production set LATCHKEY_MASTER_KEY (e.g. `openssl rand -base64 32`) and keep it apart from the data.',
  );
  return MasterKeyRing.parse(readFileSync(path, 'utf8'));
}
