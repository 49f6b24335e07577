import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../server/context.js';

/** How long readiness waits for the database before calling it unreachable. */
const READY_TIMEOUT_MS = 2_000;

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Liveness (the process answers), readiness (the database answers too) and Prometheus metrics.
 * None of them reveals anything about clients, users or tokens.
 */
export function registerOperationsRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    try {
      await within(ctx.store.ping(), READY_TIMEOUT_MS);
      return { status: 'ready', database: 'ok' };
    } catch {
      return reply.status(503).header('Retry-After', '5').send({ status: 'unavailable', database: 'unreachable' });
    }
  });

  if (ctx.config.metrics) {
    app.get('/metrics', async (_request, reply) => reply.header('Content-Type', ctx.metrics.contentType).send(await ctx.metrics.text()));
  }
}
