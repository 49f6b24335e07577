import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSafeReturnTo, locationHeaderValue } from '../core/return-to.js';
import { listConnections, revokeConnection } from '../broker/connections.js';
import { authorizedApps } from '../server/account.js';
import { answerConsent, consentPrompt } from '../server/consent.js';
import type { ServerContext } from '../server/context.js';
import { accountPage, consentPage, loginPage, messagePage } from '../server/pages/templates.js';
import {
  LOGIN_CSRF_COOKIE,
  SESSION_COOKIE,
  cookieOptions,
  csrfMatches,
  csrfToken,
  currentSession,
  endSession,
  startSession,
  type Session,
} from '../server/session.js';
import { signIn } from '../server/sign-in.js';
import { browserBinding } from './binding-cookie.js';
import { formParams, queryParams } from './form.js';
import { sendPage } from './pages.js';
import { noteOutcome } from './request-notes.js';

const PAGE = { config: { page: true } };

const loginRedirect = (returnTo: string) => `/login?return_to=${encodeURIComponent(returnTo)}`;

/** Login, consent, the account page and sign-out: server-rendered HTML with CSRF-bound forms. */
export function registerPageRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const session = (request: FastifyRequest): Promise<Session | undefined> => currentSession(ctx, request.cookies[SESSION_COOKIE]);

  /** The login form's CSRF binding. */
  const loginBinding = (request: FastifyRequest, reply: FastifyReply): string => browserBinding(ctx, request, reply, LOGIN_CSRF_COOKIE);

  const badForm = (reply: FastifyReply) => {
    noteOutcome(reply, 'invalid_request');
    return sendPage(reply, 400, messagePage('Bad request', 'The form was malformed. Go back and try again.'));
  };
  const expiredForm = (reply: FastifyReply) => {
    noteOutcome(reply, 'invalid_request');
    return sendPage(reply, 403, messagePage('This form has expired', 'For your security the form could not be accepted. Go back, reload the page and try again.'));
  };

  app.get('/login', PAGE, async (request, reply) => {
    const params = queryParams(request);
    const returnTo = params.single.get('return_to') ?? '/';
    if (params.duplicates.length > 0 || !isSafeReturnTo(returnTo)) {
      return sendPage(reply, 400, messagePage('Bad request', 'return_to must be a path on this server.'));
    }
    if (await session(request)) return reply.redirect(locationHeaderValue(returnTo), 302);
    return sendPage(reply, 200, loginPage({ returnTo, csrf: csrfToken(ctx, `login:${loginBinding(request, reply)}`) }));
  });

  app.post('/login', PAGE, async (request, reply) => {
    const { single: form, duplicates } = formParams(request);
    const returnTo = form.get('return_to') ?? '/';
    if (duplicates.length > 0 || !isSafeReturnTo(returnTo)) return badForm(reply);
    const binding = request.cookies[LOGIN_CSRF_COOKIE];
    if (!binding || !csrfMatches(ctx, `login:${binding}`, form.get('csrf_token'))) return expiredForm(reply);
    const username = (form.get('username') ?? '').slice(0, 200);
    const password = form.get('password') ?? '';
    const csrf = csrfToken(ctx, `login:${binding}`);

    const result = await signIn(ctx, username, password, request.ip);
    if (result.outcome === 'throttled') {
      noteOutcome(reply, 'temporarily_unavailable');
      reply.header('Retry-After', String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
      const minutes = Math.max(1, Math.ceil(result.retryAfterMs / 60_000));
      return sendPage(reply, 429, loginPage({ returnTo, csrf, username, error: `Too many failed sign-in attempts. Wait ${minutes} minute${minutes === 1 ? '' : 's'} and try again.` }));
    }
    if (result.outcome === 'invalid') {
      noteOutcome(reply, 'access_denied');
      return sendPage(reply, 401, loginPage({ returnTo, csrf, username, error: 'Wrong username or password.' }));
    }
    // A fresh session id at every sign-in, so a planted cookie cannot be carried into it.
    await endSession(ctx, request.cookies[SESSION_COOKIE]);
    const id = await startSession(ctx, result.user.id);
    reply.setCookie(SESSION_COOKIE, id, cookieOptions(ctx, ctx.config.sessionTtlSeconds));
    return reply.redirect(locationHeaderValue(returnTo), 303);
  });

  app.post('/logout', PAGE, async (request, reply) => {
    const current = await session(request);
    const { single: form } = formParams(request);
    if (current && !csrfMatches(ctx, current.idHash, form.get('csrf_token'))) return expiredForm(reply);
    await endSession(ctx, request.cookies[SESSION_COOKIE]);
    reply.clearCookie(SESSION_COOKIE, cookieOptions(ctx));
    return reply.redirect('/login', 303);
  });

  const expiredRequest = (reply: FastifyReply) => sendPage(reply, 400, messagePage('This request has expired', 'Return to the application and start again.'));

  app.get('/consent', PAGE, async (request, reply) => {
    const current = await session(request);
    if (!current) return reply.redirect(loginRedirect(request.url), 302);
    const interactionId = queryParams(request).single.get('interaction') ?? '';
    const prompt = await consentPrompt(ctx, current, interactionId);
    if (!prompt) return expiredRequest(reply);
    return sendPage(reply, 200, consentPage({ ...prompt, username: current.user.username, interactionId, csrf: csrfToken(ctx, current.idHash) }));
  });

  app.post('/consent', PAGE, async (request, reply) => {
    const current = await session(request);
    const { single: form, duplicates } = formParams(request);
    if (!current || !csrfMatches(ctx, current.idHash, form.get('csrf_token'))) return expiredForm(reply);
    const decision = form.get('decision');
    if (duplicates.length > 0 || (decision !== 'approve' && decision !== 'deny')) return badForm(reply);
    const outcome = await answerConsent(ctx, current, form.get('interaction') ?? '', decision);
    if ('redirectTo' in outcome) return reply.redirect(outcome.redirectTo, 303);
    if (outcome.problem === 'expired') return expiredRequest(reply);
    return sendPage(reply, 400, messagePage('This request cannot be completed', 'The application is no longer registered with this address.'));
  });

  app.get('/', PAGE, async (request, reply) => {
    const current = await session(request);
    if (!current) return reply.redirect(loginRedirect('/'), 302);
    const apps = await authorizedApps(ctx, current.user.id);
    const connections = (await listConnections(ctx, { userId: current.user.id, sources: ['browser'] })).map((c) => ({
      providerName: c.providerName,
      appId: c.appId,
      status: c.status,
      account: c.accountEmail ?? c.accountId,
    }));
    return sendPage(reply, 200, accountPage({ username: current.user.username, apps, connections, csrf: csrfToken(ctx, current.idHash) }));
  });

  app.post('/account/apps/revoke', PAGE, async (request, reply) => {
    const current = await session(request);
    const { single: form } = formParams(request);
    if (!current || !csrfMatches(ctx, current.idHash, form.get('csrf_token'))) return expiredForm(reply);
    const clientId = form.get('client_id');
    if (clientId === undefined) return badForm(reply);
    await ctx.store.tokens.revokeUserClient(current.user.id, clientId, ctx.now());
    return reply.redirect('/', 303);
  });

  app.post('/account/connections/revoke', PAGE, async (request, reply) => {
    const current = await session(request);
    const { single: form } = formParams(request);
    if (!current || !csrfMatches(ctx, current.idHash, form.get('csrf_token'))) return expiredForm(reply);
    const providerName = form.get('provider_name');
    if (providerName === undefined) return badForm(reply);
    const connection = await ctx.store.connections.find(providerName, current.user.id, form.get('app_id') ?? null);
    if (connection?.source === 'browser') await revokeConnection(ctx, connection, { actor: `user:${current.user.id}`, ip: request.ip });
    return reply.redirect('/', 303);
  });
}
