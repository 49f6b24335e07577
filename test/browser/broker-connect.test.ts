import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/admin/users.js';
import { api, PROVIDER, registerProvider, startBrokerAndProvider, stopAll, type BrokerSetup } from '../helpers/broker.js';

/**
 * Connecting an account in real Chromium: the broker on localhost, the provider (a second Latchkey)
 * on 127.0.0.1, so each keeps its own cookies and the way back to the broker is a cross-site
 * redirect, as with a real provider. The flow's SameSite=Lax binding cookie must survive it.
 */

let setup: BrokerSetup;
let browser: Browser;
const contexts: BrowserContext[] = [];
let providerUsers = 0;

beforeAll(async () => {
  setup = await startBrokerAndProvider('sqlite', { broker: { logLevel: 'warn' } });
  expect((await registerProvider(setup)).status).toBe(201);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await stopAll(setup);
});

/** A separate browser profile: its own cookies at both servers. */
async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  return context.newPage();
}

/** A user of the provider of its own for each test, so no consent remembered by one test skips another's. */
async function newProviderUser(): Promise<{ username: string; password: string }> {
  const username = `provider-user${++providerUsers}`;
  const password = `password-${randomBytes(6).toString('hex')}`;
  await createUser(setup.provider.ctx, { username, password, isAdmin: false });
  return { username, password };
}

const at = (page: Page) => new URL(page.url());

/** Fills in the sign-in page the browser is on (the broker's or the provider's) and waits for the next page. */
async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  expect(at(page).pathname).toBe('/login');
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await Promise.all([page.waitForURL((url) => url.pathname !== '/login'), page.locator('form button[type=submit]').click()]);
}

async function signInAtBroker(page: Page): Promise<void> {
  await page.goto(`${setup.broker.url}/login`);
  await signIn(page, setup.brokerFixture.user);
  expect(at(page).origin).toBe(setup.broker.url);
}

/** From the broker's flow start to the provider's consent page, signing in there on the way. */
async function toConsent(page: Page, start: string, providerUser: { username: string; password: string }): Promise<void> {
  await page.goto(start);
  expect(at(page).origin).toBe(setup.provider.url);
  await signIn(page, providerUser);
  expect(at(page).origin + at(page).pathname).toBe(`${setup.provider.url}/consent`);
}

const approve = (page: Page) => page.locator('button[name="decision"][value="approve"]').click();

async function connections(): Promise<Record<string, unknown>[]> {
  return (await (await api(setup, '/api/v1/credentials/oauth/connections')).json()) as Record<string, unknown>[];
}

describe('connecting an account in Chromium', () => {
  it('signs in at the broker, approves at the provider and lands back on return_to', async () => {
    const page = await newPage();
    await signInAtBroker(page);
    await toConsent(page, `${setup.broker.url}/api/v1/credentials/auth/${PROVIDER}?return_to=/`, await newProviderUser());

    await Promise.all([page.waitForURL((url) => url.origin === setup.broker.url), approve(page)]);
    expect(at(page).pathname).toBe('/');
    expect(at(page).search).toBe('');

    expect(await connections()).toEqual([expect.objectContaining({ provider_name: PROVIDER, user_id: setup.brokerFixture.user.id, status: 'active' })]);
  });

  it('refuses the callback in another browser, and the first browser can still finish', async () => {
    const page = await newPage();
    await signInAtBroker(page);
    await toConsent(page, `${setup.broker.url}/api/v1/credentials/auth/${PROVIDER}?return_to=/`, await newProviderUser());

    // Catch the redirect back to the broker before it arrives: pause it with the DevTools Fetch domain
    // (page.route does not see redirect hops) and answer it with a blank page.
    const cdp = await page.context().newCDPSession(page);
    const captured = new Promise<string>((resolve) => {
      cdp.on('Fetch.requestPaused', (event) => {
        resolve(event.request.url);
        void cdp.send('Fetch.fulfillRequest', { requestId: event.requestId, responseCode: 204, responseHeaders: [] }).catch(() => undefined);
      });
    });
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${setup.broker.url}/api/v1/credentials/auth/callback/*`, requestStage: 'Request' }] });
    await approve(page);
    const callbackUrl = await captured;
    expect(new URL(callbackUrl).searchParams.get('code')).toBeTruthy();

    // The same person signed in at the broker, but in another browser: no binding cookie, no deal.
    const other = await newPage();
    await signInAtBroker(other);
    const refused = await other.goto(callbackUrl);
    expect(refused!.status()).toBe(400);
    await expect(other.locator('h1').innerText()).resolves.toBe('This link is invalid or has expired');

    // Nothing was consumed: the browser that started the flow completes it.
    const again = await page.context().newPage();
    await again.goto(callbackUrl);
    expect(at(again).origin + at(again).pathname).toBe(`${setup.broker.url}/`);
    expect(at(again).searchParams.get('error')).toBeNull();
  });

  it('connects through a partner portal link in a browser with no broker account', async () => {
    const created = await api(setup, '/api/v1/connections', { method: 'POST', body: JSON.stringify({ provider_name: PROVIDER, user_id: 'customer-42' }) });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const { authorizationURL } = (await (await api(setup, `/api/v1/connections/${id}/oauth2`)).json()) as { authorizationURL: string };
    expect(authorizationURL.startsWith(`${setup.broker.url}/connect/`)).toBe(true);

    const page = await newPage();
    await toConsent(page, authorizationURL, await newProviderUser());
    const [landed] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).origin === setup.broker.url && r.request().isNavigationRequest()), approve(page)]);
    await page.waitForLoadState('load');
    expect(landed.status()).toBe(200);
    await expect(page.locator('h1').innerText()).resolves.toBe('Account connected');

    expect(await (await api(setup, `/api/v1/connections/${id}`)).json()).toMatchObject({ status: 'active', user_id: 'customer-42' });
    // The link is spent.
    const reopened = await (await newPage()).goto(authorizationURL);
    expect(reopened!.status()).toBe(410);
  });
});
