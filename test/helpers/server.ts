import { Writable } from 'node:stream';
import { createApi } from '../../src/admin/apis.js';
import { createClient } from '../../src/admin/clients.js';
import { createUser } from '../../src/admin/users.js';
import { createApiKey } from '../../src/admin/api-keys.js';
import { MasterKeyRing } from '../../src/crypto/seal.js';
import { resolveConfig, type Config, type SigningAlg, type LogLevel } from '../../src/config.js';
import { createLogger } from '../../src/runtime/logger.js';
import { openContext } from '../../src/runtime/open.js';
import { listen, type RunningServer } from '../../src/runtime/serve.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

export interface TestServer extends RunningServer {
  db: TestDatabase;
  dataDir: string;
  masterKey: string;
  /** Every log line the server wrote, as text. */
  logs: () => string;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  signingAlg?: SigningAlg;
  logLevel?: LogLevel;
  db?: TestDatabase;
  now?: () => number;
  /** As `--trust-proxy`. */
  trustProxy?: string;
  /** Reuse a master key, to restart a server on the same database. */
  masterKey?: string;
  /** Adjusts settings the CLI does not expose (token lifetimes, the broker's clocks). */
  configure?: (config: Config) => void;
  /**
   * The host of the default issuer. Browsers share cookies across ports of one host, so two servers
   * a test drives in one browser need different hosts (localhost and 127.0.0.1).
   */
  issuerHost?: 'localhost' | '127.0.0.1';
}

/** A real Latchkey server on 127.0.0.1 and a free port, on a fresh database of the given kind. */
export async function startTestServer(kind: 'sqlite' | 'postgres', options: TestServerOptions = {}): Promise<TestServer> {
  const db = options.db ?? (await createTestDatabase(kind));
  const dataDir = db.url.startsWith('sqlite:') ? db.url.slice('sqlite:'.length).replace(/\/latchkey\.db$/, '') : '/nonexistent';
  const masterKey = options.masterKey ?? MasterKeyRing.generateText();
  const config = resolveConfig(
    { port: '0', host: '127.0.0.1', databaseUrl: db.url, dataDir, signingAlg: options.signingAlg, logLevel: options.logLevel ?? 'debug', trustProxy: options.trustProxy },
    { LATCHKEY_MASTER_KEY: masterKey },
    1,
  );
  options.configure?.(config);
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const ctx = await openContext(config, logger, { ensureSigningKey: true, ...(options.now && { now: options.now }) });
  const server = await listen(ctx, false);
  if (options.issuerHost === '127.0.0.1') {
    ctx.config.issuer = ctx.config.issuer.replace('//localhost:', '//127.0.0.1:');
    server.url = ctx.config.issuer;
  }
  return {
    ...server,
    db,
    dataDir,
    masterKey,
    logs: () => lines.join(''),
    stop: async () => {
      await server.close();
      if (!options.db) await db.drop();
    },
  };
}

export const API = 'https://api.example.com';
export const REDIRECT_URI = 'http://127.0.0.1:9/callback';

export interface Fixture {
  confidential: { client_id: string; client_secret: string };
  publicClient: { client_id: string };
  machine: { client_id: string; client_secret: string };
  user: { id: string; username: string; password: string };
  apiKey: string;
}

/**
 * The usual cast: an API with two scopes (plus a second API), a confidential web app, a public SPA,
 * a machine client and a user.
 */
export async function seed(server: TestServer): Promise<Fixture> {
  const ctx = server.ctx;
  await createApi(ctx, { identifier: API, name: 'Projects API', scopes: ['read:projects', 'write:projects=Create and change your projects'], isDefault: true });
  await createApi(ctx, { identifier: 'https://billing.example.com', name: 'Billing API', scopes: ['read:invoices'], isDefault: false });
  const confidential = await createClient(ctx, {
    name: 'Web App',
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read:projects', 'write:projects', 'read:invoices'],
    isPublic: false,
  });
  const publicClient = await createClient(ctx, {
    name: 'Single Page App',
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'refresh_token'],
    scopes: ['read:projects'],
    isPublic: true,
  });
  const machine = await createClient(ctx, { name: 'Nightly Job', redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects', 'read:invoices'], isPublic: false });
  const password = 'correct horse battery';
  const user = await createUser(ctx, { username: 'alice', password, isAdmin: false });
  const apiKey = await createApiKey(ctx, { name: 'tests' });
  return {
    confidential: { client_id: confidential.client_id, client_secret: confidential.client_secret! },
    publicClient: { client_id: publicClient.client_id },
    machine: { client_id: machine.client_id, client_secret: machine.client_secret! },
    user: { id: user.id, username: user.username, password },
    apiKey: apiKey.key,
  };
}
