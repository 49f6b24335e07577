import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { InvalidClient, InvalidRequest, OAuthError, TemporarilyUnavailable } from '../core/errors.js';
import { isStoreUnavailable, isUnstorableText } from '../store/failures.js';
import { AdminError } from '../admin/context.js';
import { BrokerError } from '../broker/errors.js';
import { messagePage } from '../server/pages/templates.js';
import type { ServerContext } from '../server/context.js';
import { pathOf } from './form.js';
import { isPageRoute, sendPage } from './pages.js';
import { noteOutcome } from './request-notes.js';

/** Fixed descriptions for framework errors, so no input is ever echoed back. */
const FRAMEWORK_ERRORS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content length does not match the body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the JSON body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_INVALID_TYPE: 'the content type is malformed',
  FST_ERR_BAD_URL: 'the URL is malformed',
  FST_ERR_MAX_PARAM_LENGTH: 'the URL is too long',
};

/**
 * Sends an RFC 6749 §5.2 error: JSON, never cached. Every 401 carries a challenge (RFC 9110
 * §15.5.2); §5.2 requires it when Basic was tried, and it does no harm to a client that posted.
 */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error instanceof InvalidClient) reply.header('WWW-Authenticate', 'Basic realm="latchkey", charset="UTF-8"');
  if (error instanceof TemporarilyUnavailable) reply.header('Retry-After', String(error.retryAfterSeconds));
  noteOutcome(reply, error.error);
  return reply.status(error.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(error.toJSON());
}

/** Headers every answer carries, framework errors included. */
export function setCommonHeaders(reply: FastifyReply): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'no-referrer');
  // Answers carry codes, tokens and session state; only the public discovery documents override this.
  reply.header('Cache-Control', 'no-store');
}

/** How long a client is told to wait when the database is unreachable. */
const UNAVAILABLE_RETRY_SECONDS = 5;

/** A request the client got wrong, as an OAuth error; undefined for a failure of the server's own. */
function clientFault(err: Error): OAuthError | undefined {
  if (err instanceof OAuthError) return err;
  if (isUnstorableText(err)) return new InvalidRequest('the request contains a character that is not allowed (NUL)');
  const framework = err as FastifyError;
  const known = framework.code !== undefined ? FRAMEWORK_ERRORS[framework.code] : undefined;
  if (known !== undefined || (framework.statusCode !== undefined && framework.statusCode < 500)) {
    return new InvalidRequest(known ?? 'the request is malformed');
  }
  return undefined;
}

/** The status a malformed request is answered with: 400 on OAuth endpoints (RFC 6749 §5.2), else the framework's own. */
function faultStatus(request: FastifyRequest, err: Error): number {
  if (request.url.startsWith('/oauth/')) return 400;
  const status = (err as FastifyError).statusCode;
  return status !== undefined && status >= 400 && status < 500 ? status : 400;
}

/** 503 with `Retry-After`: a page on page routes, `temporarily_unavailable` JSON elsewhere. */
function answerUnavailable(reply: FastifyReply, isPage: boolean, description: string): FastifyReply {
  const unavailable = new TemporarilyUnavailable(description, UNAVAILABLE_RETRY_SECONDS, 503);
  if (!isPage) return sendOAuthError(reply, unavailable);
  noteOutcome(reply, unavailable.error);
  reply.header('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
  return sendPage(reply, 503, messagePage('Temporarily unavailable', 'The service cannot answer right now. Please try again in a moment.'));
}

/** Answers an error on a request: a page on page routes, JSON elsewhere. */
function answerError(ctx: ServerContext, routes: RouteTable, err: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const isPage = routes.isPage(request);
  if (err instanceof BrokerError) {
    noteOutcome(reply, err.code);
    if (isPage) return sendPage(reply, err.status, messagePage('Request failed', err.message));
    return reply.status(err.status).header('Cache-Control', 'no-store').send(err.toJSON());
  }
  if (err instanceof AdminError) {
    noteOutcome(reply, err.code);
    return reply.status(err.status).header('Cache-Control', 'no-store').send({ error: err.code, error_description: err.message });
  }
  const fault = clientFault(err);
  if (!fault) {
    ctx.logger.error({ reqId: request.id, err: { type: err.name, code: (err as FastifyError).code, message: err.message, stack: err.stack } }, 'unhandled error');
    // The database is down or busy: a retry later may work, so say so rather than 500.
    if (isStoreUnavailable(err)) return answerUnavailable(reply, isPage, 'the service is temporarily unavailable; try again later');
    noteOutcome(reply, 'server_error');
    if (isPage) return sendPage(reply, 500, messagePage('Something went wrong', 'The server could not complete the request. Please try again.'));
    return reply.status(500).header('Cache-Control', 'no-store').send({ error: 'server_error', error_description: 'internal error' });
  }
  if (err instanceof OAuthError && !isPage) return sendOAuthError(reply, err);
  noteOutcome(reply, fault.error);
  const status = err instanceof OAuthError ? err.status : faultStatus(request, err);
  if (isPage) return sendPage(reply, status, messagePage('Bad request', fault.description));
  return reply.status(status).header('Cache-Control', 'no-store').send(fault.toJSON());
}

/**
 * The routes as patterns: which methods a path answers, so a known path asked with another method
 * gets 405 rather than 404 (RFC 9110 §15.5.6); and which paths are pages, so that an error the
 * framework finds before routing (a malformed URL) is still answered with a page there.
 */
class RouteTable {
  private readonly routes: { pattern: RegExp; method: string; page: boolean }[] = [];

  add(url: string, methods: string | string[], page: boolean): void {
    const source = url.split('/').map((part) => (part.startsWith(':') ? '[^/]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
    const pattern = new RegExp(`^${source}$`);
    for (const method of [methods].flat()) this.routes.push({ pattern, method, page });
  }

  allowed(path: string): string[] {
    return [...new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
  }

  isPage(request: FastifyRequest): boolean {
    if (isPageRoute(request)) return true;
    if (request.routeOptions.url !== undefined) return false;
    const path = pathOf(request.url);
    return this.routes.some((r) => r.page && r.method === request.method && r.pattern.test(path));
  }
}

const CLIENT_ERRORS: Record<string, { status: number; description: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, description: 'the request was not received in time' },
  HPE_HEADER_OVERFLOW: { status: 431, description: 'the request headers are too large' },
};

/**
 * Requests Node's parser refuses before any route runs (malformed request line, oversized
 * headers, a body that never arrives): answered with a fixed OAuth-shaped body and closed. An
 * answer to HEAD has no body (RFC 9110 §9.3.2).
 */
function answerClientError(err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = (err.code !== undefined && CLIENT_ERRORS[err.code]) || { status: 400, description: 'the request is malformed' };
  // Node gives the bytes read so far as a Buffer, whatever the declared type says.
  const raw = err.rawPacket as unknown;
  const head = Buffer.isBuffer(raw) && raw.subarray(0, 5).toString('latin1') === 'HEAD ';
  const body = head ? '' : JSON.stringify({ error: 'invalid_request', error_description: known.description });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n` +
        `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Options for the framework that route its own errors through ours, sharing the route table the error handler builds. */
export function frameworkErrorOptions(ctx: ServerContext) {
  const routes = new RouteTable();
  return {
    routes,
    options: {
      frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
        setCommonHeaders(reply);
        return answerError(ctx, routes, err, request, reply);
      },
      clientErrorHandler: answerClientError,
    },
  };
}

/**
 * The one place errors become responses. Pages answer with a page; OAuth endpoints with RFC 6749
 * §5.2 JSON; the admin API with its own codes. Anything unexpected is a 500 with a fixed message,
 * logged by request id, its message never reaching the client.
 */
export function installErrorHandler(app: FastifyInstance, ctx: ServerContext, routes: RouteTable): void {
  app.addHook('onRoute', (route) => routes.add(route.url, route.method, (route.config as { page?: boolean } | undefined)?.page === true));
  app.setErrorHandler((err: Error, request, reply) => answerError(ctx, routes, err, request, reply));

  // A handler still waiting when the request's time is up (a database that stopped answering) is
  // answered 503 now; whatever it does later is discarded. The clock starts once the request has
  // arrived: until then Node's own request timeout answers 408.
  const deadlines = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  app.addHook('preValidation', async (request, reply) => {
    const timer = setTimeout(() => {
      if (reply.sent) return;
      ctx.logger.error({ reqId: request.id, ms: ctx.config.http.requestTimeoutMs }, 'request timed out waiting for the server');
      void answerUnavailable(reply, routes.isPage(request), 'the server took too long to answer; try again');
    }, ctx.config.http.requestTimeoutMs);
    timer.unref();
    deadlines.set(request, timer);
  });
  app.addHook('onResponse', async (request) => clearTimeout(deadlines.get(request)));
  app.addHook('onRequestAbort', async (request) => clearTimeout(deadlines.get(request)));

  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowed(pathOf(request.url));
    if (allowed.length > 0) {
      const description = `use ${allowed.filter((m) => m !== 'HEAD').join(' or ')} for this endpoint`;
      noteOutcome(reply, 'invalid_request');
      return reply
        .status(405)
        .header('Allow', allowed.join(', '))
        .header('Cache-Control', 'no-store')
        .send(new InvalidRequest(description).toJSON());
    }
    noteOutcome(reply, 'not_found');
    reply.status(404).header('Cache-Control', 'no-store').send({ error: 'not_found', error_description: 'no such endpoint' });
  });
}
