import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { buildApp } from '../http/app.js';
import { signingKeyPublishMs, type ServerContext } from '../server/context.js';
import { openContext } from './open.js';
import { JobRunner } from './jobs.js';
import { refreshDueConnections } from '../broker/background.js';
import { deliverDueWebhooks } from '../broker/webhooks.js';

/** How often the signing keys are re-read: a rotation by the CLI is served within this (SPEC: 5 s). */
const KEY_RELOAD_MS = 2_000;
const PURGE_INTERVAL_MS = 60_000;
const CONSUMED_CODE_MEMORY_MS = 24 * 3600 * 1000;
const DELIVERY_LOG_MS = 30 * 24 * 3600 * 1000;
const AUDIT_RETENTION_MS = 365 * 24 * 3600 * 1000;

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  jobs: JobRunner;
  url: string;
  close(): Promise<void>;
}

/** The background work of a server: key reloads in every process, the rest once across all of them. */
export function backgroundJobs(ctx: ServerContext): JobRunner {
  return new JobRunner(ctx.store, ctx.logger)
    .add({ name: 'signing-keys', scope: 'process', everyMs: KEY_RELOAD_MS, run: () => ctx.keys.reload(Date.now()) })
    .add({
      name: 'purge',
      scope: 'cluster',
      everyMs: PURGE_INTERVAL_MS,
      run: async () => {
        const counts = await ctx.store.purgeExpired(ctx.now(), {
          signingKeysMs: signingKeyPublishMs(ctx.config),
          consumedCodesMs: CONSUMED_CODE_MEMORY_MS,
          deliveryLogMs: DELIVERY_LOG_MS,
          auditMs: AUDIT_RETENTION_MS,
          refreshReissueMs: ctx.config.refreshReuseGraceSeconds * 1000,
        });
        ctx.logger.debug({ counts }, 'purged expired rows');
      },
    })
    .add({ name: 'refresh', scope: 'cluster', everyMs: ctx.config.broker.refreshIntervalMs, run: async () => void (await refreshDueConnections(ctx)) })
    .add({ name: 'webhooks', scope: 'cluster', everyMs: ctx.config.broker.webhookIntervalMs, run: async () => void (await deliverDueWebhooks(ctx)) });
}

/**
 * Stops taking requests and waits for those in progress, but not forever: after `timeoutMs` the
 * connections still open are closed, so a stalled client cannot hold a shutdown.
 */
async function closeWithin(app: FastifyInstance, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), timeoutMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

/** Listens on the configured address, completing the default issuer with the port actually bound. */
export async function listen(ctx: ServerContext, issuerGiven: boolean): Promise<RunningServer> {
  const app = await buildApp(ctx);
  await app.listen({ port: ctx.config.port, host: ctx.config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : ctx.config.port;
  if (!issuerGiven) ctx.config.issuer = `http://localhost:${port}`;
  const jobs = backgroundJobs(ctx);
  await jobs.start();
  return {
    app,
    ctx,
    jobs,
    url: ctx.config.issuer,
    close: async () => {
      await closeWithin(app, ctx.config.http.shutdownTimeoutMs);
      await jobs.stop();
      await ctx.store.close();
    },
  };
}

export interface ServeOptions {
  issuerGiven: boolean;
  /** Print the ready line as one JSON document. */
  json: boolean;
}

const REFORK_DELAY_MS = 1_000;

/** The ready line: one line on stdout containing `listening on <issuer>`. */
function announce(url: string, workers: number, json: boolean): void {
  const message = `latchkey listening on ${url}`;
  process.stdout.write(json ? JSON.stringify({ message, issuer: url, workers }) + '\n' : `${message}${workers > 1 ? ` (${workers} workers)` : ''}\n`);
}

/**
 * The primary of `--workers N`: prepares the database and keys once, forks N processes sharing the
 * port, and announces readiness when all of them listen. A worker that fails before that is a
 * configuration problem (port taken, database unreachable), so everything stops with an error; one
 * that dies later is replaced after a pause, so a crash loop cannot spin.
 */
async function runPrimary(config: Config, logger: Logger, options: ServeOptions): Promise<void> {
  const prepared = await openContext(config, logger, { ensureSigningKey: true });
  await prepared.store.close();
  let listening = 0;
  let ready = false;
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  const fork = () => {
    cluster.fork().on('message', (message: { listening?: string }) => {
      if (!message.listening || ready) return;
      if (++listening === config.workers) {
        ready = true;
        announce(message.listening, config.workers, options.json);
      }
    });
  };
  cluster.on('exit', (worker, code) => {
    if (stopping) return;
    if (!ready) {
      // The worker has said why on its own; stdout stays for the ready line (one JSON document with --json).
      process.stderr.write(`latchkey: a worker failed to start (exit code ${code}); see its error above\n`);
      process.exitCode = 1;
      stopAll();
      return;
    }
    logger.error({ workerPid: worker.process.pid, code }, 'worker exited; starting another');
    setTimeout(() => stopping || fork(), REFORK_DELAY_MS);
  });
  for (let i = 0; i < config.workers; i++) fork();
  process.once('SIGTERM', stopAll);
  process.once('SIGINT', stopAll);
}

/** `latchkey serve`: one process, or a primary with `workers` processes sharing the port. */
export async function serve(config: Config, logger: Logger, options: ServeOptions): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) return runPrimary(config, logger, options);

  const ctx = await openContext(config, logger, { ensureSigningKey: !cluster.isWorker });
  const server = await listen(ctx, options.issuerGiven);
  if (cluster.isWorker) process.send?.({ listening: server.url });
  else announce(server.url, 1, options.json);
  const shutdown = () => {
    server
      .close()
      .then(() => logger.flush())
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
