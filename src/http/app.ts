import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { newId } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerBrokerRoutes } from './broker-routes.js';
import { installCors } from './cors.js';
import { installErrorHandler } from './errors.js';
import { installFormParser, loggedPath } from './form.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { registerPageRoutes } from './page-routes.js';

/** Trusts the nearest `hops` proxies, as a hop count means in X-Forwarded-For handling. */
const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

/**
 * The HTTP application. Request logging is our own hook rather than the framework's, so that exactly
 * one line is written per request and it holds the path without its query string (which can carry
 * codes and state).
 */
export async function buildApp(ctx: ServerContext): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    genReqId: () => newId(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Only then is X-Forwarded-For believed, for the per-address sign-in throttle and the logs.
    trustProxy: typeof ctx.config.trustProxy === 'number' ? trustHops(ctx.config.trustProxy) : ctx.config.trustProxy,
  });

  await app.register(fastifyCookie);
  installFormParser(app);
  installErrorHandler(app, ctx);
  installCors(app);

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    // Answers carry codes, tokens and session state; only the public discovery documents override this.
    reply.header('Cache-Control', 'no-store');
  });
  app.addHook('onResponse', async (request, reply) => {
    ctx.logger.info(
      { reqId: request.id, method: request.method, path: loggedPath(request.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  registerOAuthRoutes(app, ctx);
  registerPageRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerBrokerRoutes(app, ctx);
  return app;
}
