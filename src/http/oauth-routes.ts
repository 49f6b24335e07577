import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  AuthorizationPageError,
  AuthorizationRedirectError,
  authorizationResponseUrl,
  hasConsent,
  issueCode,
  validateAuthorizationRequest,
} from '../server/authorize.js';
import { ConsentRequired, LoginRequired } from '../core/errors.js';
import type { ParsedParams } from '../core/params.js';
import type { ServerContext } from '../server/context.js';
import { handleIntrospection } from '../server/introspect.js';
import { authorizationServerMetadata } from '../server/metadata.js';
import { messagePage } from '../server/pages/templates.js';
import { handleRevocation } from '../server/revoke.js';
import { SESSION_COOKIE, currentSession } from '../server/session.js';
import { handleTokenRequest } from '../server/token.js';
import { startInteraction } from '../server/consent.js';
import { formParams, queryParams, rawQuery } from './form.js';
import { sendPage } from './pages.js';
import { noteOutcome } from './request-notes.js';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** The endpoints of RFC 6749, 7009, 7662 and 8414, and the JWKS. */
export function registerOAuthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/.well-known/oauth-authorization-server', async (_req, reply) => reply.header('Cache-Control', 'public, max-age=60').send(await authorizationServerMetadata(ctx)));
  app.get('/.well-known/openid-configuration', async (_req, reply) => reply.header('Cache-Control', 'public, max-age=60').send(await authorizationServerMetadata(ctx)));
  // Short caching: resource servers refetch on an unknown kid anyway, and rotations show up within a minute.
  app.get('/.well-known/jwks.json', async (_req, reply) => reply.header('Cache-Control', 'public, max-age=60').send(ctx.keys.jwks()));

  app.post('/oauth/token', async (request, reply) => {
    const response = await handleTokenRequest(ctx, request.headers.authorization, formParams(request), request.ip);
    ctx.logger.debug({ reqId: request.id, scope: response.scope }, 'tokens issued');
    return reply.headers(NO_STORE).send(response);
  });

  app.post('/oauth/revoke', async (request, reply) => {
    await handleRevocation(ctx, request.headers.authorization, formParams(request), request.ip);
    return reply.headers(NO_STORE).send({});
  });

  app.post('/oauth/introspect', async (request, reply) => {
    return reply.headers(NO_STORE).send(await handleIntrospection(ctx, request.headers.authorization, formParams(request), request.ip));
  });

    // 302 answers a GET; 303 makes the browser follow a POST with a GET (RFC 9110 §15.4.4).
  const authorize = async (parsed: ParsedParams, rawQuery: string, cookie: string | undefined, reply: FastifyReply, status: 302 | 303) => {
    let request;
    try {
      request = await validateAuthorizationRequest(ctx, parsed);
    } catch (err) {
      if (err instanceof AuthorizationPageError) {
        noteOutcome(reply, 'invalid_request');
        return sendPage(reply, 400, messagePage('This request cannot be completed', err.message));
      }
      if (err instanceof AuthorizationRedirectError) return reply.redirect(authorizationResponseUrl(ctx, err.redirectUri, err.state, err.error), status);
      throw err;
    }
    const session = await currentSession(ctx, cookie);
    if (!session) {
      if (request.prompt === 'none') return reply.redirect(authorizationResponseUrl(ctx, request.redirectUri, request.state, new LoginRequired('the user is not signed in')), status);
      return reply.redirect(`/login?return_to=${encodeURIComponent(`/oauth/authorize?${rawQuery}`)}`, status);
    }
    if (request.prompt !== 'consent' && (await hasConsent(ctx, session.user.id, request))) {
      return reply.redirect(await issueCode(ctx, session.user.id, request), status);
    }
    if (request.prompt === 'none') {
      return reply.redirect(authorizationResponseUrl(ctx, request.redirectUri, request.state, new ConsentRequired('the user has not consented')), status);
    }
    const interactionId = await startInteraction(ctx, session, request);
    return reply.redirect(`/consent?interaction=${encodeURIComponent(interactionId)}`, status);
  };

  app.get('/oauth/authorize', { config: { page: true } }, async (request, reply) => {
    return authorize(queryParams(request), rawQuery(request), request.cookies[SESSION_COOKIE], reply, 302);
  });
  app.post('/oauth/authorize', { config: { page: true } }, async (request, reply) => {
    const parsed = formParams(request);
    return authorize(parsed, typeof request.body === 'string' ? request.body : '', request.cookies[SESSION_COOKIE], reply, 303);
  });
}
