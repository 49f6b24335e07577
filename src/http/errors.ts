import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidClient, OAuthError } from '../core/errors.js';
import { AdminError } from '../admin/context.js';
import { messagePage } from '../server/pages/templates.js';
import type { ServerContext } from '../server/context.js';

/** Fixed descriptions for framework errors, so no input is ever echoed back. */
const FRAMEWORK_ERRORS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is too large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported content type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the content length does not match the body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the JSON body is empty',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_INVALID_TYPE: 'the content type is malformed',
};

/** Sends an RFC 6749 §5.2 error: JSON, never cached, `WWW-Authenticate` after failed Basic auth. */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  if (error instanceof InvalidClient && error.usedBasic) reply.header('WWW-Authenticate', 'Basic realm="latchkey", charset="UTF-8"');
  return reply.status(error.status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(error.toJSON());
}

const isPage = (request: FastifyRequest) => (request.routeOptions.config as { page?: boolean } | undefined)?.page === true;

/**
 * The one place errors become responses. Known errors answer with their code; anything else is a
 * 500 with a fixed message, logged by request id without its message reaching the client.
 */
export function installErrorHandler(app: import('fastify').FastifyInstance, ctx: ServerContext): void {
  app.setErrorHandler((err: FastifyError | OAuthError | AdminError | Error, request, reply) => {
    if (err instanceof OAuthError) return sendOAuthError(reply, err);
    if (err instanceof AdminError) {
      return reply.status(err.status).header('Cache-Control', 'no-store').send({ error: err.code, error_description: err.message });
    }
    const framework = err as FastifyError;
    const known = framework.code !== undefined ? FRAMEWORK_ERRORS[framework.code] : undefined;
    if (known !== undefined || (framework.statusCode !== undefined && framework.statusCode < 500)) {
      const description = known ?? 'the request is malformed';
      if (isPage(request)) return reply.status(400).type('text/html').send(messagePage('Bad request', description));
      // OAuth endpoints answer every malformed request with 400 invalid_request (RFC 6749 §5.2).
      const status = request.url.startsWith('/oauth/') ? 400 : (framework.statusCode ?? 400);
      return reply.status(status).header('Cache-Control', 'no-store').send({ error: 'invalid_request', error_description: description });
    }
    ctx.logger.error({ reqId: request.id, err: { type: err.name, code: framework.code, stack: err.stack } }, 'unhandled error');
    if (isPage(request)) return reply.status(500).type('text/html').send(messagePage('Something went wrong', 'The server could not complete the request. Please try again.'));
    return reply.status(500).header('Cache-Control', 'no-store').send({ error: 'server_error', error_description: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).header('Cache-Control', 'no-store').send({ error: 'not_found', error_description: 'no such endpoint' });
  });
}
