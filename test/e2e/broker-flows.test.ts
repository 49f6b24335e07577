import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { createUser } from '../../src/admin/users.js';
import { openToken } from '../../src/broker/token-state.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { api, closedPort, introspectAtProvider, postToProvider, PROVIDER, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

const START = `/api/v1/credentials/auth/${PROVIDER}?return_to=/done`;
const MINUTE = 60_000;

/** Counts the token requests that reach the provider: a pass-through proxy in front of it. */
async function startTokenCounter(target: string): Promise<{ url: string; count: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server = createHttpServer((req, res) => {
    if (req.url?.startsWith('/oauth/token')) count++;
    const upstream = httpRequest(new URL(req.url!, target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => count,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface World {
  setup: BrokerSetup;
  /** Moves the broker's clock (never the provider's) forward. */
  advance: (ms: number) => void;
  /** Token requests that reached the provider through the registered token_url. */
  tokenRequests: () => number;
  /** The register body's token_data, with the token endpoint behind the counter. */
  tokenData: (extra?: Record<string, unknown>) => Record<string, unknown>;
  stop: () => Promise<void>;
}

async function startWorld(kind: 'sqlite' | 'postgres', name?: string): Promise<World> {
  let offset = 0;
  const setup = await startBrokerAndProvider(kind, { broker: { now: () => Date.now() + offset }, ...(name && { name }) });
  const counter = await startTokenCounter(setup.provider.url);
  return {
    setup,
    advance: (ms) => {
      offset += ms;
    },
    tokenRequests: counter.count,
    tokenData: (extra = {}) => ({
      authorize_url: `${setup.provider.url}/oauth/authorize`,
      token_url: `${counter.url}/oauth/token`,
      revoke_url: `${setup.provider.url}/oauth/revoke`,
      scopes: ['read:projects'],
      ...extra,
    }),
    stop: async () => {
      await counter.close();
      await stopAll(setup);
    },
  };
}

async function register(world: World, extra: Record<string, unknown> = {}, name = PROVIDER): Promise<void> {
  const response = await registerProvider(world.setup, { token_data: world.tokenData(extra) }, name);
  expect(response.status, await response.clone().text()).toBe(201);
}

async function credentials(setup: BrokerSetup, query: string, name = PROVIDER): Promise<Response> {
  return api(setup, `/api/v1/credentials/oauth/connections/${name}/token?${query}`);
}

/** DELETE of a connection with the API key (no body, so no content-type). */
async function revoke(setup: BrokerSetup, query: string): Promise<Response> {
  return fetch(`${setup.broker.url}/api/v1/credentials/oauth/connections/${PROVIDER}?${query}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${setup.brokerFixture.apiKey}` },
  });
}

async function connections(setup: BrokerSetup): Promise<Array<Record<string, unknown>>> {
  const response = await api(setup, '/api/v1/credentials/oauth/connections');
  expect(response.status).toBe(200);
  return (await response.json()) as Array<Record<string, unknown>>;
}

/** The refresh token the broker holds for a connection, read from its store. */
async function storedRefreshToken(setup: BrokerSetup, connectionId: string): Promise<string | null> {
  const connection = await setup.broker.ctx.store.connections.get(connectionId);
  expect(connection).toBeDefined();
  return openToken(setup.broker.ctx, connection!, 'refresh');
}

async function signedInBrowser(setup: BrokerSetup): Promise<TwoSiteBrowser> {
  const browser = new TwoSiteBrowser(setup);
  await browser.signInAtBroker();
  return browser;
}

function expectHtml(response: Response, status: number): void {
  expect(response.status, response.url).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(response.headers.get('location')).toBeNull();
}

describe.each(DATABASE_KINDS)('broker browser flows (broker on %s)', (kind) => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });
  const start = async (name?: string) => (world = await startWorld(kind, name));

  describe('full flow', () => {
    it('registers, connects and hands out a token the provider accepts', async () => {
      const { setup, tokenData } = await start();
      const first = await registerProvider(setup, { token_data: tokenData() });
      expect(first.status).toBe(201);
      const created = (await first.json()) as { success: boolean; provider_id: string };
      expect(created.success).toBe(true);
      // Registering the same name again updates it in place.
      const again = await registerProvider(setup, { token_data: tokenData({ scopes: ['read:projects', 'write:projects'] }) });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { provider_id: string }).provider_id).toBe(created.provider_id);

      const listed = await api(setup, '/api/v1/credentials/oauth/providers');
      const text = await listed.text();
      expect(listed.status).toBe(200);
      expect(text).not.toContain(setup.client.client_secret);
      expect(JSON.parse(text)).toEqual([
        expect.objectContaining({
          provider_id: created.provider_id,
          provider_name: PROVIDER,
          app_id: null,
          grant_type: 'authorization_code',
          authorize_url: `${setup.provider.url}/oauth/authorize`,
          token_url: tokenData().token_url,
          revoke_url: `${setup.provider.url}/oauth/revoke`,
          scopes: ['read:projects', 'write:projects'],
          redirect_uri: `${setup.broker.url}/api/v1/credentials/auth/callback/${PROVIDER}`,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        }),
      ]);

      const browser = await signedInBrowser(setup);
      const done = await browser.connect(`/api/v1/credentials/auth/${PROVIDER}?return_to=${encodeURIComponent('/done?tab=2')}`);
      expect(done.status).toBe(302);
      expect(done.headers.get('location')).toBe('/done?tab=2');

      const userId = setup.brokerFixture.user.id;
      const [connection, ...others] = await connections(setup);
      expect(others).toEqual([]);
      expect(connection).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          provider_type: PROVIDER,
          provider_name: PROVIDER,
          user_id: userId,
          app_id: null,
          status: 'active',
          scopes: ['read:projects', 'write:projects'],
          created_at: expect.any(String),
          updated_at: expect.any(String),
        }),
      );
      expect(Date.parse(connection!.expires_at as string)).toBeGreaterThan(Date.now());

      const response = await credentials(setup, `user_id=${userId}`);
      expect(response.status).toBe(200);
      const creds = (await response.json()) as Record<string, unknown>;
      expect(creds).toEqual(
        expect.objectContaining({ token_type: 'Bearer', scopes: ['read:projects', 'write:projects'], connection_id: connection!.id, expires_at: connection!.expires_at }),
      );
      expect(creds.expires_in).toBeGreaterThan(0);
      expect(await introspectAtProvider(setup, creds.access_token as string)).toMatchObject({
        active: true,
        client_id: setup.client.client_id,
        sub: setup.providerFixture.user.id,
      });
    });

    it('lands on / when the flow names no return_to', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      const done = await browser.connect(`/api/v1/credentials/auth/${PROVIDER}`);
      expect(done.status).toBe(302);
      expect(done.headers.get('location')).toBe('/');
    });
  });

  describe('starting a flow', () => {
    it('sends a browser without a session to /login first, with the whole start URL to come back to', async () => {
      const { setup } = await start();
      await register(world!);
      const path = `/api/v1/credentials/auth/${PROVIDER}?return_to=%2Fdone&app_id=web`;
      const response = await new BrowserAgent(setup.broker.url).get(path);
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe(`/login?return_to=${encodeURIComponent(path)}`);
    });

    it('answers an unknown provider with a 404 page', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      expectHtml(await browser.atBroker.get('/api/v1/credentials/auth/nosuch?return_to=/done'), 404);
    });

    it('refuses a return_to that is not a path on the broker with 400, before anything else', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      for (const returnTo of ['//evil.example', 'https://evil.example', '/\\evil', 'done', '/\r\nevil']) {
        const path = `/api/v1/credentials/auth/${PROVIDER}?return_to=${encodeURIComponent(returnTo)}`;
        // Checked before the session: no detour through /login either.
        expectHtml(await new BrowserAgent(setup.broker.url).get(path), 400);
        expectHtml(await browser.atBroker.get(path), 400);
      }
      expect(browser.atBroker.cookie('latchkey_connect')).toBeUndefined();
    });
  });

  describe('state attacks: a 400 page, and nothing consumed or sent to the provider', () => {
    /** A signed-in browser that has been to the provider and holds the redirect back to the broker. */
    async function pendingCallback(): Promise<{ browser: TwoSiteBrowser; callback: URL }> {
      await register(world!);
      const browser = await signedInBrowser(world!.setup);
      return { browser, callback: await browser.consent(await browser.start(START)) };
    }

    /** The genuine callback still completes afterwards: the failed attempt consumed nothing. */
    async function expectStillCompletes(browser: TwoSiteBrowser, callback: URL): Promise<void> {
      const done = await browser.callback(callback);
      expect(done.status).toBe(302);
      expect(done.headers.get('location')).toBe('/done');
      expect(world!.tokenRequests()).toBe(1);
    }

    it('refuses a forged state', async () => {
      await start();
      const { browser, callback } = await pendingCallback();
      const forged = new URL(callback);
      forged.searchParams.set('state', 'forged-state-value-that-was-never-issued');
      expectHtml(await browser.callback(forged), 400);
      const missing = new URL(callback);
      missing.searchParams.delete('state');
      expectHtml(await browser.callback(missing), 400);
      expect(world!.tokenRequests()).toBe(0);
      await expectStillCompletes(browser, callback);
    });

    it('refuses a callback with neither a code nor an error', async () => {
      await start();
      const { browser, callback } = await pendingCallback();
      const codeless = new URL(callback);
      codeless.searchParams.delete('code');
      expectHtml(await browser.callback(codeless), 400);
      expect(world!.tokenRequests()).toBe(0);
      await expectStillCompletes(browser, callback);
    });

    it('refuses a replayed callback', async () => {
      await start();
      const { browser, callback } = await pendingCallback();
      await expectStillCompletes(browser, callback);
      expectHtml(await browser.callback(callback), 400);
      expect(world!.tokenRequests()).toBe(1);
      expect(await connections(world!.setup)).toHaveLength(1);
    });

    it('refuses a state older than 10 minutes', async () => {
      await start();
      const { browser, callback } = await pendingCallback();
      world!.advance(10 * MINUTE + 1000);
      expectHtml(await browser.callback(callback), 400);
      expect(world!.tokenRequests()).toBe(0);
      expect(await connections(world!.setup)).toEqual([]);
    });

    it('refuses a callback delivered to another browser', async () => {
      const { setup } = await start();
      const { browser, callback } = await pendingCallback();
      const stranger = new BrowserAgent(setup.broker.url);
      expectHtml(await stranger.get(callback.pathname + callback.search), 400);
      // Even the same user in another browser, with a binding cookie of its own flow.
      const otherTab = await signedInBrowser(setup);
      await otherTab.start(START);
      expect(otherTab.atBroker.cookie('latchkey_connect')).toBeDefined();
      expectHtml(await otherTab.callback(callback), 400);
      expect(world!.tokenRequests()).toBe(0);
      await expectStillCompletes(browser, callback);
    });

    it('refuses a callback at another provider’s path', async () => {
      await start();
      await register(world!, {}, 'other');
      const { browser, callback } = await pendingCallback();
      const foreign = new URL(callback);
      foreign.pathname = '/api/v1/credentials/auth/callback/other';
      expectHtml(await browser.callback(foreign), 400);
      expect(world!.tokenRequests()).toBe(0);
      await expectStillCompletes(browser, callback);
    });
  });

  it('sends a denial at the provider back to return_to with error=access_denied, and connects nothing', async () => {
    const { setup } = await start();
    await register(world!);
    const browser = await signedInBrowser(setup);
    const callback = await browser.consent(await browser.start(`/api/v1/credentials/auth/${PROVIDER}?return_to=${encodeURIComponent('/done?tab=2')}`), 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const done = await browser.callback(callback);
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/done?tab=2&error=access_denied');
    expect(world!.tokenRequests()).toBe(0);
    expect(await connections(setup)).toEqual([]);
  });

  describe('refresh', () => {
    it('refreshes inside the margin, keeps the connection, and stores each rotated refresh token', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      await browser.connect();
      const query = `user_id=${setup.brokerFixture.user.id}`;
      const first = (await (await credentials(setup, query)).json()) as { access_token: string; connection_id: string };
      const firstRefresh = await storedRefreshToken(setup, first.connection_id);
      expect(firstRefresh).not.toBeNull();

      // The provider's tokens last an hour; the margin is 5 minutes. Outside it: the same token.
      world!.advance(3200_000);
      expect(((await (await credentials(setup, query)).json()) as { access_token: string }).access_token).toBe(first.access_token);
      expect(world!.tokenRequests()).toBe(1);

      world!.advance(200_000);
      const second = (await (await credentials(setup, query)).json()) as { access_token: string; connection_id: string };
      expect(second.access_token).not.toBe(first.access_token);
      expect(second.connection_id).toBe(first.connection_id);
      expect(world!.tokenRequests()).toBe(2);
      expect(await introspectAtProvider(setup, second.access_token)).toMatchObject({ active: true });
      // The rotated refresh token was stored by the time the access token was handed out.
      const secondRefresh = await storedRefreshToken(setup, first.connection_id);
      expect(secondRefresh).not.toBe(firstRefresh);
      expect(await introspectAtProvider(setup, secondRefresh!, setup.client)).toMatchObject({ active: true });
      expect(await introspectAtProvider(setup, firstRefresh!, setup.client)).toEqual({ active: false });

      // So the next refresh works too.
      world!.advance(3400_000);
      const third = (await (await credentials(setup, query)).json()) as { access_token: string; connection_id: string };
      expect(third.access_token).not.toBe(second.access_token);
      expect(third.connection_id).toBe(first.connection_id);
      expect(world!.tokenRequests()).toBe(3);
      expect(await introspectAtProvider(setup, third.access_token)).toMatchObject({ active: true });
      expect(await connections(setup)).toEqual([expect.objectContaining({ id: first.connection_id, status: 'active' })]);
    });

    it('turns invalid_grant into needs_reauth, and reconnecting keeps the connection id', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      await browser.connect();
      const query = `user_id=${setup.brokerFixture.user.id}`;
      const [before] = await connections(setup);

      // The user withdraws the broker's access at the provider.
      await setup.provider.ctx.store.tokens.revokeUserClient(setup.providerFixture.user.id, setup.client.client_id, Date.now());
      world!.advance(3600_000);
      const refused = await credentials(setup, query);
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({ error: 'needs_reauth' });
      expect(await connections(setup)).toEqual([expect.objectContaining({ id: before!.id, status: 'needs_reauth' })]);
      // Asking again does not retry the dead refresh token.
      const requests = world!.tokenRequests();
      expect((await credentials(setup, query)).status).toBe(409);
      expect(world!.tokenRequests()).toBe(requests);

      const done = await browser.connect();
      expect(done.headers.get('location')).toBe('/done');
      expect(await connections(setup)).toEqual([expect.objectContaining({ id: before!.id, status: 'active' })]);
      const creds = await credentials(setup, query);
      expect(creds.status).toBe(200);
      const body = (await creds.json()) as { access_token: string; connection_id: string };
      expect(body.connection_id).toBe(before!.id);
      expect(await introspectAtProvider(setup, body.access_token)).toMatchObject({ active: true });
    });
  });

  describe('a provider that issues no refresh token', () => {
    it('hands the token out until it expires, then answers needs_reauth instead of an expired token', async () => {
      const { setup } = await start();
      const noRefresh = await createClient(setup.provider.ctx, {
        name: 'Broker without refresh',
        redirectUris: [`${setup.broker.url}/api/v1/credentials/auth/callback/${PROVIDER}`],
        grantTypes: ['authorization_code'],
        scopes: ['read:projects'],
        isPublic: false,
      });
      const response = await registerProvider(
        setup,
        { client_id: noRefresh.client_id, client_secret: noRefresh.client_secret, token_data: world!.tokenData() },
        PROVIDER,
      );
      expect(response.status).toBe(201);
      await (await signedInBrowser(setup)).connect();
      const query = `user_id=${setup.brokerFixture.user.id}`;
      expect(await storedRefreshToken(setup, ((await connections(setup))[0] as { id: string }).id)).toBeNull();

      world!.advance(30 * MINUTE);
      const stillGood = await credentials(setup, query);
      expect(stillGood.status).toBe(200);
      expect(world!.tokenRequests()).toBe(1);

      world!.advance(31 * MINUTE);
      const expired = await credentials(setup, query);
      expect(expired.status).toBe(409);
      expect(await expired.json()).toMatchObject({ error: 'needs_reauth' });
      expect(await connections(setup)).toEqual([expect.objectContaining({ status: 'needs_reauth' })]);
      expect(world!.tokenRequests()).toBe(1);
    });
  });

  describe('revocation', () => {
    it('revokes at the provider before deleting', async () => {
      const { setup } = await start();
      await register(world!);
      const browser = await signedInBrowser(setup);
      await browser.connect();
      const userId = setup.brokerFixture.user.id;
      const creds = (await (await credentials(setup, `user_id=${userId}`)).json()) as { access_token: string; connection_id: string };
      const refreshToken = await storedRefreshToken(setup, creds.connection_id);

      const response = await revoke(setup, `user_id=${userId}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ success: true, provider_revoked: true });
      expect(await connections(setup)).toEqual([]);
      expect(await introspectAtProvider(setup, creds.access_token)).toEqual({ active: false });
      const refresh = await postToProvider(setup, '/oauth/token', setup.client, { grant_type: 'refresh_token', refresh_token: refreshToken! });
      expect(refresh.status).toBe(400);
      expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
      expect((await credentials(setup, `user_id=${userId}`)).status).toBe(404);
    });

    it('deletes locally when the provider cannot be reached, and says so', async () => {
      const { setup } = await start();
      await register(world!, { revoke_url: `http://127.0.0.1:${await closedPort()}/oauth/revoke` });
      const browser = await signedInBrowser(setup);
      await browser.connect();
      const response = await revoke(setup, `user_id=${setup.brokerFixture.user.id}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ success: true, provider_revoked: false });
      expect(await connections(setup)).toEqual([]);
    });

    it('answers 404 not_found for a connection that does not exist', async () => {
      const { setup } = await start();
      await register(world!);
      const response = await revoke(setup, 'user_id=nobody');
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'not_found' });
    });
  });

  describe('browser sessions', () => {
    /** Alice and Bob each connect through their own browsers; a portal connection carries Alice's id under an app. */
    async function twoUsers(): Promise<{ setup: BrokerSetup; alice: TwoSiteBrowser; bobId: string }> {
      const { setup } = await start();
      await register(world!);
      const bob = await createUser(setup.broker.ctx, { username: 'bob', password: 'another fine password', isAdmin: false });
      const bobBrowser = new TwoSiteBrowser(setup);
      const page = await (await bobBrowser.atBroker.get('/login')).text();
      expect((await bobBrowser.atBroker.submitForm(page, '/login', { username: 'bob', password: 'another fine password' })).status).toBe(303);
      await bobBrowser.connect();
      const alice = await signedInBrowser(setup);
      await alice.connect();
      const portal = await api(setup, '/api/v1/connections', { method: 'POST', body: JSON.stringify({ provider_name: PROVIDER, user_id: setup.brokerFixture.user.id, app_id: 'partner' }) });
      expect(portal.status).toBe(201);
      return { setup, alice, bobId: bob.id };
    }

    const asSession = (browser: TwoSiteBrowser, path: string, init: RequestInit = {}) =>
      fetch(`${browser.setup.broker.url}${path}`, { ...init, redirect: 'manual', headers: { cookie: browser.atBroker.cookieHeader(), ...(init.headers as Record<string, string>) } });

    it('lists only the session’s own browser connections', async () => {
      const { setup, alice, bobId } = await twoUsers();
      expect(await connections(setup)).toHaveLength(3);
      const own = await asSession(alice, '/api/v1/credentials/oauth/connections');
      expect(own.status).toBe(200);
      expect(await own.json()).toEqual([expect.objectContaining({ user_id: setup.brokerFixture.user.id, app_id: null, status: 'active' })]);
      expect((await asSession(alice, `/api/v1/credentials/oauth/connections?user_id=${bobId}`)).status).toBe(403);
      expect((await asSession(alice, `/api/v1/credentials/oauth/connections?user_id=${setup.brokerFixture.user.id}`)).status).toBe(200);
    });

    it('refuses API-key endpoints to a session', async () => {
      const { setup, alice } = await twoUsers();
      const token = await asSession(alice, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${setup.brokerFixture.user.id}`);
      expect(token.status).toBe(403);
      // Refused even from the broker's own origin: registering needs an API key.
      const origin = new URL(setup.broker.url).origin;
      const registerAttempt = await asSession(alice, '/api/v1/credentials/oauth/register', {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ provider_name: 'mine', client_id: 'x', client_secret: 'y', token_data: world!.tokenData() }),
      });
      expect(registerAttempt.status).toBe(403);
      expect((await api(setup, '/api/v1/credentials/oauth/providers').then((r) => r.json())) as unknown[]).toHaveLength(1);
    });

    it('deletes its own connection only with the broker’s Origin', async () => {
      const { setup, alice, bobId } = await twoUsers();
      const path = `/api/v1/credentials/oauth/connections/${PROVIDER}`;
      expect((await asSession(alice, path, { method: 'DELETE' })).status).toBe(403);
      expect((await asSession(alice, path, { method: 'DELETE', headers: { origin: 'http://evil.example' } })).status).toBe(403);
      expect(await connections(setup)).toHaveLength(3);
      const deleted = await asSession(alice, path, { method: 'DELETE', headers: { origin: new URL(setup.broker.url).origin } });
      expect(deleted.status).toBe(200);
      expect(await deleted.json()).toMatchObject({ success: true, provider_revoked: true });
      // Bob's connection and the portal connection remain.
      const remaining = (await connections(setup)).map((c) => `${String(c.user_id)}/${String(c.app_id)}`);
      expect(remaining.sort()).toEqual([`${bobId}/null`, `${setup.brokerFixture.user.id}/partner`].sort());
    });
  });

  describe('client-credentials providers', () => {
    it('fetches a token on first request, caches it, and renews it after the margin', async () => {
      const { setup, tokenData } = await start();
      const machine = setup.providerFixture.machine;
      const registered = await registerProvider(setup, {
        client_id: machine.client_id,
        client_secret: machine.client_secret,
        token_data: { grant_type: 'client_credentials', token_url: tokenData().token_url, scopes: ['read:projects'] },
      });
      expect(registered.status).toBe(201);

      const first = await credentials(setup, '');
      expect(first.status).toBe(200);
      const token = (await first.json()) as { access_token: string; connection_id: string; scopes: string[] };
      expect(token.scopes).toEqual(['read:projects']);
      expect(await introspectAtProvider(setup, token.access_token)).toMatchObject({ active: true, client_id: machine.client_id, scope: 'read:projects' });
      const cached = (await (await credentials(setup, '')).json()) as { access_token: string };
      expect(cached.access_token).toBe(token.access_token);
      expect(world!.tokenRequests()).toBe(1);
      expect(await connections(setup)).toEqual([expect.objectContaining({ id: token.connection_id, user_id: null, app_id: null, status: 'active' })]);

      const withUser = await credentials(setup, `user_id=${setup.brokerFixture.user.id}`);
      expect(withUser.status).toBe(400);
      expect(await withUser.json()).toMatchObject({ error: 'invalid_request' });

      world!.advance(3400_000);
      const renewed = (await (await credentials(setup, '')).json()) as { access_token: string; connection_id: string };
      expect(renewed.access_token).not.toBe(token.access_token);
      expect(renewed.connection_id).toBe(token.connection_id);
      expect(world!.tokenRequests()).toBe(2);
      expect(await introspectAtProvider(setup, renewed.access_token)).toMatchObject({ active: true });
    });
  });

  describe('a provider found by discovery', () => {
    const NAME = 'discovered';

    async function discovered(): Promise<BrokerSetup> {
      const { setup } = await start(NAME);
      const response = await registerProvider(setup, { token_data: { issuer: setup.provider.url, scopes: ['read:projects'] } }, NAME);
      expect(response.status, await response.clone().text()).toBe(201);
      return setup;
    }

    it('reads the provider’s URLs from its metadata and connects', async () => {
      const setup = await discovered();
      const providers = (await (await api(setup, '/api/v1/credentials/oauth/providers')).json()) as unknown[];
      expect(providers).toEqual([
        expect.objectContaining({
          provider_name: NAME,
          authorize_url: `${setup.provider.url}/oauth/authorize`,
          token_url: `${setup.provider.url}/oauth/token`,
          revoke_url: `${setup.provider.url}/oauth/revoke`,
          scopes: ['read:projects'],
        }),
      ]);
      const browser = await signedInBrowser(setup);
      const done = await browser.connect(`/api/v1/credentials/auth/${NAME}?return_to=/done`);
      expect(done.headers.get('location')).toBe('/done');
      const creds = await credentials(setup, `user_id=${setup.brokerFixture.user.id}`, NAME);
      expect(creds.status).toBe(200);
      expect(await introspectAtProvider(setup, ((await creds.json()) as { access_token: string }).access_token)).toMatchObject({ active: true });
    });

    it('refuses a callback whose iss was altered or dropped (RFC 9207), consuming nothing', async () => {
      const setup = await discovered();
      const browser = await signedInBrowser(setup);
      const callback = await browser.consent(await browser.start(`/api/v1/credentials/auth/${NAME}?return_to=/done`));
      expect(callback.searchParams.get('iss')).toBe(setup.provider.url);
      const altered = new URL(callback);
      altered.searchParams.set('iss', 'http://127.0.0.1:9');
      expectHtml(await browser.callback(altered), 400);
      // The provider advertises iss, so a callback without it is refused too.
      const dropped = new URL(callback);
      dropped.searchParams.delete('iss');
      expectHtml(await browser.callback(dropped), 400);
      expect(await connections(setup)).toEqual([]);
      const done = await browser.callback(callback);
      expect(done.status).toBe(302);
      expect(done.headers.get('location')).toBe('/done');
      expect(await connections(setup)).toEqual([expect.objectContaining({ provider_name: NAME, status: 'active' })]);
    });
  });
});
