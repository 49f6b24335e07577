import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import { newId } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import { registerAdminRoutes } from './admin-routes.js';
import { registerBrokerRoutes } from './broker-routes.js';
import { installCors } from './cors.js';
import { frameworkErrorOptions, installErrorHandler, sendOAuthError, setCommonHeaders } from './errors.js';
import { installFormParser, loggedPath, refuseNulInPaths } from './form.js';
import { requireJsonBodies } from './json-body.js';
import { registerOAuthRoutes } from './oauth-routes.js';
import { registerOperationsRoutes } from './operations-routes.js';
import { registerPageRoutes } from './page-routes.js';
import { notesOf } from './request-notes.js';
import { InvalidRequest, TemporarilyUnavailable } from '../core/errors.js';
import { installThrottle } from './throttle.js';

/** Trusts the nearest `hops` proxies, as a hop count means in X-Forwarded-For handling. */
const trustHops = (hops: number) => (_address: string, hop: number) => hop < hops;

/** Labels metrics by route pattern, never by raw path, so that ids and tokens make no new series. */
const routeLabel = (pattern: string | undefined) => pattern ?? 'unmatched';

/**
 * The HTTP application. Request logging is our own hook rather than the framework's, so that exactly
 * one line is written per request and it holds the path without its query string (which can carry
 * codes and state).
 */
export async function buildApp(ctx: ServerContext): Promise<FastifyInstance> {
  const limits = ctx.config.http;
  const { routes, options: errorOptions } = frameworkErrorOptions(ctx);
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    genReqId: () => newId(),
    // Our own 503 while closing (below), in the shape of every other error.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A body or headers that never finish are answered 408: Node checks these every second.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: 1_000, requireHostHeader: false },
    // Only then is X-Forwarded-For believed, for the per-address limits and the logs.
    trustProxy: typeof ctx.config.trustProxy === 'number' ? trustHops(ctx.config.trustProxy) : ctx.config.trustProxy,
    ...errorOptions,
  });
  // JSON with <, > and & escaped: input named in an error can never be read as markup, whatever sniffs it.
  app.setReplySerializer((payload) => JSON.stringify(payload).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`));

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  await app.register(fastifyCookie);
  installFormParser(app);
  refuseNulInPaths(app);
  installErrorHandler(app, ctx, routes);
  installCors(app);
  requireJsonBodies(app);
  installThrottle(app, ctx);

  app.addHook('onRequest', async (request, reply) => {
    setCommonHeaders(reply);
    // RFC 9112 §3.2: HTTP/1.1 without Host is malformed. Checked here rather than by Node, whose answer has no body.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      return sendOAuthError(reply.header('Connection', 'close'), new InvalidRequest('the Host header is missing'));
    }
    if (!closing) return;
    return sendOAuthError(reply.header('Connection', 'close'), new TemporarilyUnavailable('the server is shutting down; try again', 1, 503));
  });
  app.addHook('onResponse', async (request, reply) => {
    const notes = notesOf(request);
    const route = routeLabel(request.routeOptions.url);
    ctx.metrics.httpRequests.inc({ route, method: request.method, status: reply.statusCode });
    ctx.metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
    ctx.logger.info(
      {
        reqId: request.id,
        method: request.method,
        path: loggedPath(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        ip: request.ip,
        ...(notes.clientId !== undefined && { clientId: notes.clientId }),
        ...(notes.actor !== undefined && { actor: notes.actor }),
        ...(notes.error !== undefined && { error: notes.error }),
      },
      'request',
    );
  });

  registerOperationsRoutes(app, ctx);
  registerOAuthRoutes(app, ctx);
  registerPageRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerBrokerRoutes(app, ctx);
  return app;
}
