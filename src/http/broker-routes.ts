import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { completeAuthorization, portalConnection, startAuthorization, type CallbackOutcome } from '../broker/connect.js';
import {
  createPortalConnection,
  credentialsFor,
  findConnection,
  getConnection,
  listConnections,
  portalLink,
  revokeConnection,
} from '../broker/connections.js';
import { freshCredentials } from '../broker/credentials.js';
import { BrokerError, parseInput } from '../broker/errors.js';
import { deleteProvider, listProviders, parseRegisterBody, providerFor, registerProvider } from '../broker/providers.js';
import { connectionView, portalConnectionView } from '../broker/views.js';
import { createWebhook, deleteWebhook, listWebhooks, parseWebhookBody, webhookDeliveries } from '../broker/webhooks.js';
import { isSafeReturnTo, locationHeaderValue } from '../core/return-to.js';
import type { ServerContext } from '../server/context.js';
import { messagePage } from '../server/pages/templates.js';
import { currentSession, SESSION_COOKIE } from '../server/session.js';
import { actorOf } from './actor.js';
import { brokerCaller, type BrokerCaller } from './broker-auth.js';
import { browserBinding } from './binding-cookie.js';
import { queryParams } from './form.js';
import { sendPage } from './pages.js';

/** Binds a connect flow to the browser that started it (SPEC: state bound by an HttpOnly, SameSite=Lax cookie). */
export const CONNECT_BINDING_COOKIE = 'latchkey_connect';
const PAGE = { config: { page: true } };

type ProviderParams = { provider: string };
type IdParams = { id: string };

/** The query's single-valued parameters; a repeated one is refused. */
function query(request: FastifyRequest): Map<string, string> {
  const parsed = queryParams(request);
  if (parsed.duplicates.length > 0) throw new BrokerError('invalid_request', `parameter "${parsed.duplicates[0]}" was sent more than once`);
  return parsed.single;
}

const optional = (q: Map<string, string>, name: string): string | null => q.get(name) ?? null;

const portalBody = z.strictObject({
  provider_name: z.string().regex(/^[a-z0-9_-]{1,64}$/),
  user_id: z.string().min(1).max(200).optional(),
  app_id: z.string().min(1).max(200).optional(),
  connection_config: z.record(z.string().regex(/^[a-z_][a-z0-9_]{0,63}$/), z.string().max(300)).optional(),
});
const portalPatch = z.strictObject({
  http: z.strictObject({ auth: z.strictObject({ oauth: z.strictObject({ oauth2RedirectUrl: z.string().url().max(2000).nullable().optional() }) }) }),
});

/** `url` with one more query parameter, whether a path on this server or an absolute URL. */
function withParam(url: string, name: string, value: string, base: string): string {
  const target = new URL(url, base);
  target.searchParams.append(name, value);
  return url.startsWith('/') ? `${target.pathname}${target.search}${target.hash}` : target.href;
}

/** The connection broker's REST API, the browser flows and the partner portal's link. */
export function registerBrokerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const caller = (request: FastifyRequest, reply: FastifyReply, allowSession = false) => brokerCaller(ctx, request, reply, allowSession);

  /** Reused once set, so flows in several tabs all work. */
  const binding = (request: FastifyRequest, reply: FastifyReply): string => browserBinding(ctx, request, reply, CONNECT_BINDING_COOKIE);

  // Providers

  app.post('/api/v1/credentials/oauth/register', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const { created, provider } = await registerProvider(ctx, parseRegisterBody(request.body));
    return reply.status(created ? 201 : 200).send({
      success: true,
      provider_id: provider.id,
      message: `provider ${provider.name} ${created ? 'registered' : 'updated'}`,
    });
  });

  app.get('/api/v1/credentials/oauth/providers', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return listProviders(ctx);
  });

  app.delete<{ Params: IdParams }>('/api/v1/credentials/oauth/providers/:id', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const force = query(request).get('force');
    if (force !== undefined && force !== 'true' && force !== 'false') throw new BrokerError('invalid_request', 'force must be true or false');
    return deleteProvider(ctx, request.params.id, force === 'true', actorOf(request));
  });

  // Browser flow

  app.get<{ Params: ProviderParams }>('/api/v1/credentials/auth/:provider', PAGE, async (request, reply) => {
    const parsed = queryParams(request);
    const q = parsed.single;
    const returnTo = q.get('return_to') ?? null;
    if (parsed.duplicates.length > 0 || (returnTo !== null && !isSafeReturnTo(returnTo))) {
      return sendPage(reply, 400, messagePage('Bad request', 'return_to must be a path on this server.'));
    }
    const session = await currentSession(ctx, request.cookies[SESSION_COOKIE]);
    if (!session) return reply.redirect(`/login?return_to=${encodeURIComponent(request.url)}`, 302);
    const appId = q.get('app_id') ?? null;
    let provider;
    try {
      provider = await providerFor(ctx, request.params.provider, appId);
    } catch {
      return sendPage(reply, 404, messagePage('Unknown provider', 'No provider of that name is registered here.'));
    }
    if (provider.grantType !== 'authorization_code') {
      return sendPage(reply, 400, messagePage('Bad request', 'This provider is used with client credentials and needs no authorization.'));
    }
    const reserved = new Set(['return_to', 'app_id']);
    const config = Object.fromEntries([...q].filter(([name]) => !reserved.has(name)));
    try {
      const url = await startAuthorization(ctx, {
        provider,
        binding: binding(request, reply),
        userId: session.user.id,
        appId,
        returnTo,
        connectionId: null,
        config,
      });
      return reply.redirect(url, 302);
    } catch (err) {
      if (err instanceof BrokerError) return sendPage(reply, err.status, messagePage('Bad request', err.message));
      throw err;
    }
  });

  app.get<{ Params: ProviderParams }>('/api/v1/credentials/auth/callback/:provider', PAGE, async (request, reply) => {
    const outcome = await completeAuthorization(ctx, request.params.provider, new URLSearchParams(request.url.split('?')[1] ?? ''), request.cookies[CONNECT_BINDING_COOKIE]);
    return answerCallback(reply, outcome);
  });

  const answerCallback = (reply: FastifyReply, outcome: CallbackOutcome) => {
    if (outcome.kind === 'bad_state') {
      return sendPage(reply, 400, messagePage('This link is invalid or has expired', 'The connection could not be completed. Go back and start again.'));
    }
    const error = outcome.kind === 'denied' ? 'access_denied' : outcome.kind === 'failed' ? outcome.error : undefined;
    if (outcome.state.connectionId !== null) return answerPortal(reply, outcome.state.connectionId, error);
    const returnTo = outcome.state.returnTo ?? '/';
    return reply.redirect(locationHeaderValue(error ? withParam(returnTo, 'error', error, ctx.config.issuer) : returnTo), 302);
  };

  const answerPortal = async (reply: FastifyReply, connectionId: string, error: string | undefined) => {
    const connection = await ctx.store.connections.get(connectionId);
    const target = connection?.oauth2RedirectUrl;
    if (target) return reply.redirect(locationHeaderValue(error ? withParam(target, 'error', error, ctx.config.issuer) : target), 302);
    if (error === 'access_denied') return sendPage(reply, 200, messagePage('Not connected', 'You declined the request. You can close this window.'));
    if (error) return sendPage(reply, 502, messagePage('Not connected', 'The account could not be connected. Ask for a new link and try again.'));
    return sendPage(reply, 200, messagePage('Account connected', 'Your account is connected. You can close this window.'));
  };

  // Partner portal link

  app.get<{ Params: { token: string } }>('/connect/:token', PAGE, async (request, reply) => {
    const found = await portalConnection(ctx, request.params.token);
    if (found === 'unknown') return sendPage(reply, 404, messagePage('Unknown link', 'This link is not valid. Ask for a new one.'));
    if (found === 'gone') return sendPage(reply, 410, messagePage('This link has expired', 'This link was already used or is too old. Ask for a new one.'));
    const provider = await ctx.store.providers.get(found.providerId);
    if (!provider) return sendPage(reply, 410, messagePage('This link has expired', 'The provider is no longer available.'));
    const url = await startAuthorization(ctx, {
      provider,
      binding: binding(request, reply),
      userId: found.userId,
      appId: found.appId,
      returnTo: null,
      connectionId: found.id,
      config: found.config,
    });
    return reply.redirect(url, 302);
  });

  // Connections

  /** A session sees its own browser connections only; a user_id of someone else is refused. */
  const scopeFor = (who: BrokerCaller, q: Map<string, string>) => {
    const userId = optional(q, 'user_id');
    if (who.kind === 'api_key') return { userId, sources: undefined };
    if (userId !== null && userId !== who.session.user.id) throw new BrokerError('forbidden', 'a session sees only its own connections');
    return { userId: who.session.user.id, sources: ['browser' as const] };
  };

  app.get('/api/v1/credentials/oauth/connections', async (request, reply) => {
    const who = await caller(request, reply, true);
    if (!who) return reply;
    const q = query(request);
    const { userId, sources } = scopeFor(who, q);
    const connections = await listConnections(ctx, {
      ...(userId !== null && { userId }),
      ...(q.has('app_id') && { appId: q.get('app_id')! }),
      ...(q.has('provider_name') && { providerName: q.get('provider_name')! }),
      ...(sources && { sources }),
    });
    return connections.map(connectionView);
  });

  app.delete<{ Params: ProviderParams }>('/api/v1/credentials/oauth/connections/:provider', async (request, reply) => {
    const who = await caller(request, reply, true);
    if (!who) return reply;
    const q = query(request);
    const { userId } = scopeFor(who, q);
    const connection = await findConnection(ctx, request.params.provider, userId, optional(q, 'app_id'));
    if (who.kind === 'session' && connection.source !== 'browser') throw new BrokerError('not_found', 'no such connection');
    const { provider_revoked } = await revokeConnection(ctx, connection, actorOf(request));
    return { success: true, message: `connection to ${connection.providerName} revoked`, provider_revoked };
  });

  app.get<{ Params: ProviderParams }>('/api/v1/credentials/oauth/connections/:provider/token', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const q = query(request);
    return credentialsFor(ctx, request.params.provider, optional(q, 'user_id'), optional(q, 'app_id'));
  });

  // Partner portal

  app.post('/api/v1/connections', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const body = parseInput(portalBody, request.body);
    const connection = await createPortalConnection(ctx, {
      providerName: body.provider_name,
      userId: body.user_id ?? null,
      appId: body.app_id ?? null,
      config: body.connection_config ?? {},
    });
    return reply.status(201).send(portalConnectionView(connection));
  });

  app.get<{ Params: IdParams }>('/api/v1/connections/:id', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return portalConnectionView(await getConnection(ctx, request.params.id));
  });

  app.put<{ Params: IdParams }>('/api/v1/connections/:id', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const body = parseInput(portalPatch, request.body);
    const connection = await getConnection(ctx, request.params.id);
    const redirect = body.http.auth.oauth.oauth2RedirectUrl;
    if (redirect === undefined) return portalConnectionView(connection);
    if (redirect !== null && !/^https?:$/.test(new URL(redirect).protocol)) throw new BrokerError('invalid_request', 'oauth2RedirectUrl must be an http(s) URL');
    const updated = await ctx.store.connections.update(connection.id, { oauth2RedirectUrl: redirect, updatedAt: ctx.now() });
    return portalConnectionView(updated!);
  });

  app.get<{ Params: IdParams }>('/api/v1/connections/:id/oauth2', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    const connection = await getConnection(ctx, request.params.id);
    if (connection.source === 'client_credentials') throw new BrokerError('invalid_request', 'a client-credentials connection needs no authorization');
    return { authorizationURL: await portalLink(ctx, connection) };
  });

  app.get<{ Params: IdParams }>('/api/v1/connections/:id/token', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return freshCredentials(ctx, await getConnection(ctx, request.params.id));
  });

  // Webhooks

  app.post('/api/v1/webhooks', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return reply.status(201).send(await createWebhook(ctx, parseWebhookBody(request.body)));
  });

  app.get('/api/v1/webhooks', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return listWebhooks(ctx);
  });

  app.delete<{ Params: IdParams }>('/api/v1/webhooks/:id', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return deleteWebhook(ctx, request.params.id);
  });

  app.get<{ Params: IdParams }>('/api/v1/webhooks/:id/deliveries', async (request, reply) => {
    if (!(await caller(request, reply))) return reply;
    return webhookDeliveries(ctx, request.params.id);
  });
}
