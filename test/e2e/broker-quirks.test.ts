import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { api, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

/**
 * Catalog providers whose token endpoints answer in their own shapes. A real Latchkey issues the
 * tokens; a small proxy in front of its token endpoint rewrites each answer the way GitHub, Slack
 * or Salesforce would send it, and the catalog entry of that name must still make sense of it.
 */

type Json = Record<string, unknown>;

interface Reshaped {
  status: number;
  contentType: string;
  body: string;
}

interface Exchange {
  grantType: string | null;
  /** What the real provider answered. */
  upstream: { status: number; body: Json };
  /** What the proxy sent on to the broker. */
  sent: Reshaped;
}

interface ReshapingProxy {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

type Reshape = (upstream: { status: number; body: Json; grantType: string | null }) => Reshaped;

/** Forwards every request to `target` and rewrites the JSON answer with `reshape`. */
async function reshapingProxy(target: string, reshape: Reshape): Promise<ReshapingProxy> {
  const exchanges: Exchange[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const response = await fetch(`${target}${req.url}`, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? '', ...(req.headers.authorization && { authorization: req.headers.authorization }) },
        body,
      });
      const upstream = { status: response.status, body: (await response.json()) as Json };
      const grantType = new URLSearchParams(body).get('grant_type');
      const sent = reshape({ ...upstream, grantType });
      exchanges.push({ grantType, upstream, sent });
      res.writeHead(sent.status, { 'content-type': sent.contentType }).end(sent.body);
    })().catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const json = (status: number, body: Json): Reshaped => ({ status, contentType: 'application/json', body: JSON.stringify(body) });

/** GitHub without an Accept header: form encoding, and the granted scopes comma-separated. */
const githubShape: Reshape = ({ status, body }) => {
  const fields = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, k === 'scope' ? String(v).split(' ').join(',') : String(v)]));
  return { status, contentType: 'application/x-www-form-urlencoded; charset=utf-8', body: new URLSearchParams(fields).toString() };
};

/**
 * Slack's oauth.v2.access: failures are a 200 with ok: false; the code exchange nests the user's
 * token in authed_user, while a refresh (token rotation) answers with it at the top level.
 */
const slackShape: Reshape = ({ status, body, grantType }) => {
  if (status !== 200) return json(200, { ok: false, error: body.error });
  const { access_token, refresh_token, expires_in, scope, token_type } = body;
  if (grantType === 'refresh_token') return json(200, { ok: true, access_token, refresh_token, expires_in, scope, token_type: 'user' });
  return json(200, { ok: true, app_id: 'A0SLACK', team: { id: 'T0TEAM', name: 'Acme' }, authed_user: { id: 'U0USER', access_token, refresh_token, expires_in, scope, token_type } });
};

const INSTANCE_URL = 'https://acme.my.salesforce.com';
/** Salesforce: no expires_in, and the org's own API host in instance_url. */
const salesforceShape: Reshape = ({ status, body }) => {
  if (status !== 200) return json(status, body);
  const rest = { ...body };
  delete rest.expires_in;
  return json(200, { ...rest, instance_url: INSTANCE_URL, id: 'https://login.salesforce.com/id/00D000000000001/005000000000001', issued_at: String(Date.now()) });
};

describe.each(DATABASE_KINDS)('catalog providers with quirky token responses (%s)', (kind) => {
  let setup: BrokerSetup;
  let client: { client_id: string; client_secret: string };
  const proxies: ReshapingProxy[] = [];

  beforeAll(async () => {
    setup = await startBrokerAndProvider(kind, { accessTokenTtlSeconds: 2 });
    // One client at the provider for all three catalog names: a callback each.
    const created = await createClient(setup.provider.ctx, {
      name: 'Broker (catalog names)',
      redirectUris: ['github', 'slack', 'salesforce'].map((name) => `${setup.broker.url}/api/v1/credentials/auth/callback/${name}`),
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['read:projects', 'write:projects'],
      isPublic: false,
    });
    client = { client_id: created.client_id, client_secret: created.client_secret! };
  });
  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
    await stopAll(setup);
  });

  /**
   * Registers catalog provider `name` with every URL pointing here: the token endpoint through a
   * proxy answering in `shape`, the rest at the provider itself (never the real provider's host).
   */
  async function registerBehindProxy(name: string, shape: Reshape, tokenData: Json = {}): Promise<ReshapingProxy> {
    const proxy = await reshapingProxy(setup.provider.url, shape);
    proxies.push(proxy);
    const response = await api(setup, '/api/v1/credentials/oauth/register', {
      method: 'POST',
      body: JSON.stringify({
        provider_name: name,
        ...client,
        token_data: {
          authorize_url: `${setup.provider.url}/oauth/authorize`,
          token_url: `${proxy.url}/oauth/token`,
          revoke_url: `${setup.provider.url}/oauth/revoke`,
          userinfo_url: `${setup.provider.url}/oauth/userinfo`,
          ...tokenData,
        },
      }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    const providers = (await (await api(setup, '/api/v1/credentials/oauth/providers')).json()) as Json[];
    expect(providers.find((p) => p.provider_name === name)).toMatchObject({ catalog: name });
    return proxy;
  }

  async function connect(name: string, query = ''): Promise<void> {
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
    const done = await browser.connect(`/api/v1/credentials/auth/${name}?return_to=/done${query}`);
    expect(done.status, await done.clone().text()).toBe(302);
    expect(done.headers.get('location')).toBe('/done');
  }

  const credentials = (name: string) => api(setup, `/api/v1/credentials/oauth/connections/${name}/token?user_id=${setup.brokerFixture.user.id}`);
  /** The access token the real provider issued last, as the proxy saw it. */
  const lastIssued = (proxy: ReshapingProxy) => proxy.exchanges.filter((e) => e.upstream.status === 200).at(-1)!.upstream.body.access_token;

  it('github: reads a form-encoded token response with comma-separated scopes', async () => {
    const proxy = await registerBehindProxy('github', githubShape, { scopes: ['read:projects', 'write:projects'] });
    // A query parameter the provider's URLs do not use is not kept with the connection.
    await connect('github', '&instance_url=https%3A%2F%2Fevil.example');
    expect(proxy.exchanges[0]!.sent.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(proxy.exchanges[0]!.sent.body).toContain('scope=read%3Aprojects%2Cwrite%3Aprojects');

    const response = await credentials('github');
    const body = (await response.json()) as Json;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toBe(lastIssued(proxy));
    expect(body.scopes).toEqual(['read:projects', 'write:projects']);
    expect(body.connection_config).toEqual({});
    // expires_in arrived as a form string and still counts.
    expect(body.expires_at).not.toBeNull();
  });

  it('slack: reads tokens nested in authed_user, then a top-level refresh, and {ok: false, error: invalid_grant} needs reauthorization', async () => {
    const proxy = await registerBehindProxy('slack', slackShape, { scopes: ['read:projects'] });
    await connect('slack');

    const response = await credentials('slack');
    const body = (await response.json()) as Json;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toBe(lastIssued(proxy));
    expect(body.scopes).toEqual(['read:projects']);
    expect(body.connection_config).toMatchObject({ 'team.id': 'T0TEAM', 'authed_user.id': 'U0USER' });

    // The 2 s token is refreshed after 1 s; bounded poll.
    let renewed: Response | undefined;
    for (let i = 0; i < 50 && renewed === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const current = await credentials('slack');
      if (current.status !== 200 || ((await current.clone().json()) as Json).access_token !== body.access_token) renewed = current;
    }
    expect(renewed?.status, await renewed?.clone().text()).toBe(200);
    expect(((await renewed!.json()) as Json).access_token).toBe(lastIssued(proxy));
    expect(proxy.exchanges.at(-1)).toMatchObject({ grantType: 'refresh_token', upstream: { status: 200 } });
    expect(JSON.parse(proxy.exchanges.at(-1)!.sent.body)).not.toHaveProperty('authed_user');

    // The refresh token dies at the provider; the next refresh comes back as Slack's 200 ok:false.
    const refreshToken = proxy.exchanges.at(-1)!.upstream.body.refresh_token as string;
    const revoked = await fetch(`${setup.provider.url}/oauth/revoke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revoked.status).toBe(200);
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await credentials('slack')).status;
    }
    expect(status).toBe(409);
    expect(await (await credentials('slack')).json()).toMatchObject({ error: 'needs_reauth' });
    expect(proxy.exchanges.at(-1)).toMatchObject({ grantType: 'refresh_token', sent: { status: 200, body: JSON.stringify({ ok: false, error: 'invalid_grant' }) } });
    const list = (await (await api(setup, '/api/v1/credentials/oauth/connections?provider_name=slack')).json()) as Json[];
    expect(list[0]).toMatchObject({ status: 'needs_reauth' });
  });

  it('salesforce: keeps instance_url, and a token without expires_in has no expiry', async () => {
    const proxy = await registerBehindProxy('salesforce', salesforceShape, { scopes: ['read:projects'] });
    // The catalog's issuer (login.salesforce.com) must not be held against a callback from the
    // authorize URL given instead, whose `iss` is the stand-in's own.
    await connect('salesforce');

    const response = await credentials('salesforce');
    const body = (await response.json()) as Json;
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toBe(lastIssued(proxy));
    expect(body).toMatchObject({ expires_at: null, expires_in: null, scopes: ['read:projects'] });
    expect((body.connection_config as Json).instance_url).toBe(INSTANCE_URL);
    const list = (await (await api(setup, '/api/v1/credentials/oauth/connections?provider_name=salesforce')).json()) as Json[];
    expect(list[0]).toMatchObject({ status: 'active', expires_at: null, connection_config: { instance_url: INSTANCE_URL } });
    // The tokens came through untouched, so revocation reaches the provider.
    const deleted = await fetch(`${setup.broker.url}/api/v1/credentials/oauth/connections/salesforce?user_id=${setup.brokerFixture.user.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${setup.brokerFixture.apiKey}` },
    });
    expect(await deleted.json()).toMatchObject({ success: true, provider_revoked: true });
  });
});

describe('a catalog provider with a {shop} in its URLs', () => {
  let setup: BrokerSetup;
  let browser: TwoSiteBrowser;

  beforeAll(async () => {
    setup = await startBrokerAndProvider('sqlite');
    const response = await api(setup, '/api/v1/credentials/oauth/register', {
      method: 'POST',
      body: JSON.stringify({ provider_name: 'shopify', client_id: 'shopify-app', client_secret: 'shopify-secret' }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
  });
  afterAll(async () => stopAll(setup));

  it('needs the shop to start a flow', async () => {
    const response = await browser.atBroker.get('/api/v1/credentials/auth/shopify?return_to=/');
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it("sends the browser to that shop's own authorize URL", async () => {
    const authorize = await browser.start('/api/v1/credentials/auth/shopify?return_to=/&shop=acme-store');
    expect(authorize.host).toBe('acme-store.myshopify.com');
    expect(authorize.pathname).toBe('/admin/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).toBe('shopify-app');
  });

  it.each(['evil.com/x', 'a@b', 'evil.com:8443', 'evil.com?x=', 'evil.com#'])('refuses the hostile shop %j', async (shop) => {
    const response = await browser.atBroker.get(`/api/v1/credentials/auth/shopify?return_to=/&shop=${encodeURIComponent(shop)}`);
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });

  it('refuses a hostile shop for a portal connection too', async () => {
    const response = await api(setup, '/api/v1/connections', {
      method: 'POST',
      body: JSON.stringify({ provider_name: 'shopify', user_id: 'customer-1', connection_config: { shop: 'evil.com/x' } }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });
});
