import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidClient, InvalidRequest, OAuthError } from '../core/errors.js';
import { AdminError } from '../admin/context.js';
import { BrokerError } from '../broker/errors.js';
import { messagePage } from '../server/pages/templates.js';
import type { ServerContext } from '../server/context.js';
import { sendPage } from './pages.js';

/** Fixed descriptions for framework errors, so no input is ever echoed back. */
const FRAMEWORK_ERRORS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content length does not match the body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the JSON body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_INVALID_TYPE: 'the content type is malformed',
};

/**
 * Sends an RFC 6749 §5.2 error: JSON, never cached. Every 401 carries a challenge (RFC 9110
 * §15.5.2); §5.2 requires it when Basic was tried, and it does no harm to a client that posted.
 */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error instanceof InvalidClient) reply.header('WWW-Authenticate', 'Basic realm="latchkey", charset="UTF-8"');
  return reply.status(error.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(error.toJSON());
}

const isPage = (request: FastifyRequest) => (request.routeOptions.config as { page?: boolean } | undefined)?.page === true;

/** A request the client got wrong, as an OAuth error; undefined for a failure of the server's own. */
function clientFault(err: Error): OAuthError | undefined {
  if (err instanceof OAuthError) return err;
  const framework = err as FastifyError;
  const known = framework.code !== undefined ? FRAMEWORK_ERRORS[framework.code] : undefined;
  if (known !== undefined || (framework.statusCode !== undefined && framework.statusCode < 500)) {
    return new InvalidRequest(known ?? 'the request is malformed');
  }
  return undefined;
}

/**
 * The one place errors become responses. Pages answer with a page; OAuth endpoints with RFC 6749
 * §5.2 JSON; the admin API with its own codes. Anything unexpected is a 500 with a fixed message,
 * logged by request id, its message never reaching the client.
 */
export function installErrorHandler(app: import('fastify').FastifyInstance, ctx: ServerContext): void {
  app.setErrorHandler((err: FastifyError | OAuthError | AdminError | BrokerError | Error, request, reply) => {
    if (err instanceof BrokerError) {
      if (isPage(request)) return sendPage(reply, err.status, messagePage('Request failed', err.message));
      return reply.status(err.status).header('Cache-Control', 'no-store').send(err.toJSON());
    }
    if (err instanceof AdminError) {
      return reply.status(err.status).header('Cache-Control', 'no-store').send({ error: err.code, error_description: err.message });
    }
    const fault = clientFault(err);
    if (!fault) {
      ctx.logger.error({ reqId: request.id, err: { type: err.name, code: (err as FastifyError).code, stack: err.stack } }, 'unhandled error');
      if (isPage(request)) return sendPage(reply, 500, messagePage('Something went wrong', 'The server could not complete the request. Please try again.'));
      return reply.status(500).header('Cache-Control', 'no-store').send({ error: 'server_error', error_description: 'internal error' });
    }
    if (isPage(request)) return sendPage(reply, 400, messagePage('Bad request', fault.description));
    if (err instanceof OAuthError) return sendOAuthError(reply, err);
    // OAuth endpoints answer every malformed request with 400 (RFC 6749 §5.2); elsewhere the
    // framework's status (413, 415) says more.
    const status = request.url.startsWith('/oauth/') ? 400 : ((err as FastifyError).statusCode ?? 400);
    return reply.status(status).header('Cache-Control', 'no-store').send(fault.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).header('Cache-Control', 'no-store').send({ error: 'not_found', error_description: 'no such endpoint' });
  });
}
