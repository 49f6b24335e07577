import cluster from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { buildApp } from '../http/app.js';
import { signingKeyPublishMs, type ServerContext } from '../server/context.js';
import { openContext } from './open.js';

/** How often the signing keys are re-read: a rotation by the CLI is served within this (SPEC: 5 s). */
const KEY_RELOAD_MS = 2_000;
const PURGE_INTERVAL_MS = 60_000;
const CONSUMED_CODE_MEMORY_MS = 24 * 3600 * 1000;

export interface RunningServer {
  app: FastifyInstance;
  ctx: ServerContext;
  url: string;
  close(): Promise<void>;
}

/** Deletes expired rows now and every minute after, so tables do not grow without bound. */
function startPurging(ctx: ServerContext): NodeJS.Timeout {
  const purge = () =>
    ctx.store
      .purgeExpired(ctx.now(), { signingKeysMs: signingKeyPublishMs(ctx.config), consumedCodesMs: CONSUMED_CODE_MEMORY_MS })
      .then((counts) => ctx.logger.debug({ counts }, 'purged expired rows'))
      .catch((err: unknown) => ctx.logger.error({ err: { message: (err as Error).message } }, 'purge failed'));
  void purge();
  const timer = setInterval(purge, PURGE_INTERVAL_MS);
  timer.unref();
  return timer;
}

/** Listens on the configured address, completing the default issuer with the port actually bound. */
export async function listen(ctx: ServerContext, issuerGiven: boolean): Promise<RunningServer> {
  const app = await buildApp(ctx);
  await app.listen({ port: ctx.config.port, host: ctx.config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : ctx.config.port;
  if (!issuerGiven) ctx.config.issuer = `http://localhost:${port}`;
  ctx.keys.startReloading(KEY_RELOAD_MS, (err) => ctx.logger.error({ err: { message: (err as Error).message } }, 'signing key reload failed'));
  const purgeTimer = startPurging(ctx);
  return {
    app,
    ctx,
    url: ctx.config.issuer,
    close: async () => {
      clearInterval(purgeTimer);
      ctx.keys.stop();
      await app.close();
      await ctx.store.close();
    },
  };
}

/**
 * `latchkey serve`: one process, or a primary that prepares the database and keys once and then
 * forks `workers` processes sharing the port. A worker that dies is replaced.
 */
export async function serve(config: Config, logger: Logger, issuerGiven: boolean): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) {
    const prepared = await openContext(config, logger, { ensureSigningKey: true });
    await prepared.store.close();
    let announced = false;
    let stopping = false;
    const fork = () => {
      const worker = cluster.fork();
      worker.on('message', (message: { listening?: string }) => {
        if (message.listening && !announced) {
          announced = true;
          process.stdout.write(`latchkey listening on ${message.listening} (${config.workers} workers)\n`);
        }
      });
    };
    for (let i = 0; i < config.workers; i++) fork();
    cluster.on('exit', (worker, code) => {
      if (stopping) return;
      logger.error({ workerPid: worker.process.pid, code }, 'worker exited; starting another');
      fork();
    });
    const stop = () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }

  const ctx = await openContext(config, logger, { ensureSigningKey: !cluster.isWorker });
  const server = await listen(ctx, issuerGiven);
  if (cluster.isWorker) process.send?.({ listening: server.url });
  else process.stdout.write(`latchkey listening on ${server.url}\n`);
  const shutdown = () => {
    server
      .close()
      .then(() => logger.flush())
      .finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
