import { afterEach, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { api, introspectAtProvider, PROVIDER, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

const PARTNER_RETURN = 'https://partner.example/integrations/done?step=3';

interface PortalConnection {
  id: string;
  status: string;
  user_id: string | null;
  oauth2RedirectUrl: string | null;
}

async function createConnection(setup: BrokerSetup, body: Record<string, unknown>): Promise<PortalConnection> {
  const response = await api(setup, '/api/v1/connections', { method: 'POST', body: JSON.stringify({ provider_name: PROVIDER, ...body }) });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as PortalConnection;
}

async function setRedirect(setup: BrokerSetup, id: string, url: string): Promise<PortalConnection> {
  const response = await api(setup, `/api/v1/connections/${id}`, { method: 'PUT', body: JSON.stringify({ http: { auth: { oauth: { oauth2RedirectUrl: url } } } }) });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as PortalConnection;
}

async function authorizationUrl(setup: BrokerSetup, id: string): Promise<URL> {
  const response = await api(setup, `/api/v1/connections/${id}/oauth2`);
  expect(response.status).toBe(200);
  const { authorizationURL } = (await response.json()) as { authorizationURL: string };
  expect(authorizationURL).toMatch(new RegExp(`^${setup.broker.url}/connect/[A-Za-z0-9_-]{20,}$`));
  return new URL(authorizationURL);
}

/**
 * The partner's customer, who has no account at the broker: opens the link, answers the provider
 * (signing in there as the provider's user) and is sent back through the broker's callback. Returns
 * the broker's answer to that callback.
 */
async function customerFollows(setup: BrokerSetup, link: URL, decision: 'approve' | 'deny' = 'approve'): Promise<Response> {
  const atBroker = new BrowserAgent(setup.broker.url);
  const opened = await atBroker.get(link.pathname);
  expect(opened.status).toBe(302);
  const authorize = new URL(opened.headers.get('location')!);
  expect(authorize.origin).toBe(setup.provider.url);
  const callback = await new BrowserAgent(setup.provider.url).authorize(authorize, setup.providerFixture.user, decision);
  return atBroker.get(callback.pathname + callback.search);
}

describe.each(DATABASE_KINDS)('broker partner portal (broker on %s)', (kind) => {
  let setup: BrokerSetup | undefined;
  let offset = 0;
  afterEach(async () => {
    await stopAll(setup);
    setup = undefined;
    offset = 0;
  });

  /** A broker (whose clock the test can move) with the provider registered. */
  async function start(): Promise<BrokerSetup> {
    setup = await startBrokerAndProvider(kind, { broker: { now: () => Date.now() + offset } });
    expect((await registerProvider(setup)).status).toBe(201);
    return setup;
  }

  it('takes a customer without a broker account from the link to the partner’s page, then hands out credentials', async () => {
    const setup = await start();
    const created = await createConnection(setup, { user_id: 'customer-42' });
    expect(created).toMatchObject({ status: 'pending', user_id: 'customer-42', oauth2RedirectUrl: null });

    const early = await api(setup, `/api/v1/connections/${created.id}/token`);
    expect(early.status).toBe(409);
    expect(await early.json()).toMatchObject({ error: 'pending' });

    expect(await setRedirect(setup, created.id, PARTNER_RETURN)).toMatchObject({ id: created.id, status: 'pending', oauth2RedirectUrl: PARTNER_RETURN });
    const link = await authorizationUrl(setup, created.id);
    const landed = await customerFollows(setup, link);
    expect(landed.status).toBe(302);
    expect(landed.headers.get('location')).toBe(PARTNER_RETURN);

    const read = await api(setup, `/api/v1/connections/${created.id}`);
    expect(await read.json()).toMatchObject({ id: created.id, status: 'active', user_id: 'customer-42', scopes: ['read:projects'], oauth2RedirectUrl: PARTNER_RETURN });
    const token = await api(setup, `/api/v1/connections/${created.id}/token`);
    expect(token.status).toBe(200);
    const creds = (await token.json()) as { access_token: string; connection_id: string };
    expect(creds.connection_id).toBe(created.id);
    expect(await introspectAtProvider(setup, creds.access_token)).toMatchObject({ active: true, sub: setup.providerFixture.user.id });
    // The same connection through the provider-name API.
    const byName = await api(setup, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=customer-42`);
    expect(((await byName.json()) as { connection_id: string }).connection_id).toBe(created.id);

    // A used link is gone; one never issued is unknown.
    const used = await new BrowserAgent(setup.broker.url).get(link.pathname);
    expect(used.status).toBe(410);
    expect(used.headers.get('content-type')).toMatch(/^text\/html/);
    const unknown = await new BrowserAgent(setup.broker.url).get('/connect/this-link-was-never-issued-by-the-broker');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('shows a "connected" page when the partner gave no page to return to', async () => {
    const setup = await start();
    const created = await createConnection(setup, { user_id: 'customer-7' });
    const landed = await customerFollows(setup, await authorizationUrl(setup, created.id));
    expect(landed.status).toBe(200);
    expect(landed.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await landed.text()).toMatch(/connected/i);
    expect(await (await api(setup, `/api/v1/connections/${created.id}`)).json()).toMatchObject({ status: 'active' });
  });

  it('sends a denial to the partner’s page with error=access_denied, and the connection stays pending', async () => {
    const setup = await start();
    const created = await createConnection(setup, { user_id: 'customer-43' });
    await setRedirect(setup, created.id, PARTNER_RETURN);
    const landed = await customerFollows(setup, await authorizationUrl(setup, created.id), 'deny');
    expect(landed.status).toBe(302);
    expect(landed.headers.get('location')).toBe(`${PARTNER_RETURN}&error=access_denied`);
    expect(await (await api(setup, `/api/v1/connections/${created.id}`)).json()).toMatchObject({ status: 'pending' });
    expect((await api(setup, `/api/v1/connections/${created.id}/token`)).status).toBe(409);
  });

  it('tells the customer about a denial when the partner gave no page', async () => {
    const setup = await start();
    const created = await createConnection(setup, { user_id: 'customer-44' });
    const landed = await customerFollows(setup, await authorizationUrl(setup, created.id), 'deny');
    expect(landed.headers.get('location')).toBeNull();
    expect(landed.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await landed.text()).toMatch(/not connected/i);
  });

  it('lets a link expire after 24 hours', async () => {
    const setup = await start();
    const created = await createConnection(setup, { user_id: 'customer-45' });
    const link = await authorizationUrl(setup, created.id);
    offset = 24 * 3600_000 + 1000;
    expect((await new BrowserAgent(setup.broker.url).get(link.pathname)).status).toBe(410);
    // Asking for the authorization URL again issues a working one.
    const fresh = await authorizationUrl(setup, created.id);
    expect(fresh.href).not.toBe(link.href);
    expect((await new BrowserAgent(setup.broker.url).get(fresh.pathname)).status).toBe(302);
  });

  it('keeps portal connections out of a browser session’s list, even under the session user’s id', async () => {
    const setup = await start();
    const userId = setup.brokerFixture.user.id;
    const portal = await createConnection(setup, { user_id: userId });
    expect((await customerFollows(setup, await authorizationUrl(setup, portal.id))).status).toBe(200);
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();

    const list = async () => {
      const response = await browser.atBroker.get('/api/v1/credentials/oauth/connections');
      expect(response.status).toBe(200);
      return (await response.json()) as Array<{ id: string }>;
    };
    expect(await list()).toEqual([]);
    // Nor can the session delete it.
    const deleted = await fetch(`${setup.broker.url}/api/v1/credentials/oauth/connections/${PROVIDER}`, {
      method: 'DELETE',
      headers: { cookie: browser.atBroker.cookieHeader(), origin: new URL(setup.broker.url).origin },
    });
    expect(deleted.status).toBe(404);
    const all = (await (await api(setup, '/api/v1/credentials/oauth/connections')).json()) as Array<{ id: string; status: string }>;
    expect(all).toEqual([expect.objectContaining({ id: portal.id, status: 'active' })]);
  });
});
