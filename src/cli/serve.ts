import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { ConfigError, issuerWasGiven, resolveConfig, type RawSettings } from '../config.js';
import { createLogger } from '../runtime/logger.js';
import { serve } from '../runtime/serve.js';
import { openStore } from '../store/open.js';
import { cliConfig, noticingNewDatabase, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit } from './output.js';

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('run the server (applies pending migrations first)')
    .option('--port <port>', 'HTTP port; 0 picks a free one (env LATCHKEY_PORT, default 8080)')
    .option('--host <host>', 'bind address (env LATCHKEY_HOST, default 127.0.0.1)')
    .option('--issuer <url>', 'the iss of every token (env LATCHKEY_ISSUER, default http://localhost:<port>)')
    .option('--data-dir <dir>', 'where the SQLite file and dev keys live (env LATCHKEY_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'sqlite:PATH or postgres://… (env LATCHKEY_DATABASE_URL)')
    .option('--workers <n>', 'processes to run: a number or auto (env LATCHKEY_WORKERS, default 1)')
    .option('--signing-alg <alg>', 'RS256, ES256 or EdDSA (env LATCHKEY_SIGNING_ALG, default RS256)')
    .option('--log-level <level>', 'debug, info, warn or error (env LATCHKEY_LOG_LEVEL, default info)')
    .option('--trust-proxy <proxies>', 'believe X-Forwarded-For from: true, a hop count, or addresses/CIDRs (env LATCHKEY_TRUST_PROXY, default false)')
    .option('--rate-limit-client <n>', 'failed authentications per client and address per window before 429 (env LATCHKEY_RATE_LIMIT_CLIENT, default 20)')
    .option('--rate-limit-address <n>', 'failed authentications per address per window before 429 (env LATCHKEY_RATE_LIMIT_ADDRESS, default 100)')
    .option('--rate-limit-window <seconds>', 'the rate limits\' window (env LATCHKEY_RATE_LIMIT_WINDOW, default 60)')
    .option('--refresh-reuse-grace <seconds>', 'a retried refresh token gets the same answer within this (env LATCHKEY_REFRESH_REUSE_GRACE, default 0: off)')
    .option('--require-pkce <clients>', 'public or all: who must use PKCE (env LATCHKEY_REQUIRE_PKCE, default public)')
    .option('--metrics <on>', 'true or false: serve /metrics (env LATCHKEY_METRICS, default true)')
    .option('--request-timeout <seconds>', 'the longest a request may take to arrive (env LATCHKEY_REQUEST_TIMEOUT, default 30)')
    .option('--shutdown-timeout <seconds>', 'the longest shutdown waits for requests in flight (env LATCHKEY_SHUTDOWN_TIMEOUT, default 10)')
    .option('--json', 'print the ready line as one JSON document')
    .action(async (opts: RawSettings & { json?: boolean }) => {
      const config = resolveConfig(opts, process.env, availableParallelism());
      try {
        await noticingNewDatabase(config.databaseUrl, () =>
          serve(config, createLogger(config.logLevel), { issuerGiven: issuerWasGiven(opts, process.env), json: opts.json ?? false }),
        );
      } catch (err) {
        // The commonest failure to start deserves one plain line rather than the system's error.
        if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
        throw new ConfigError(`port ${config.port} on ${config.host} is already in use; pass --port or set LATCHKEY_PORT`);
      }
    });

  storeOptions(program.command('migrate').description('apply pending database migrations and exit')).action(async (opts: StoreOptions) => {
    const { databaseUrl } = cliConfig(opts);
    const store = await noticingNewDatabase(databaseUrl, () => openStore(databaseUrl));
    await store.close();
    emit(opts, { migrated: true }, () => process.stdout.write('database is up to date\n'));
  });
}
