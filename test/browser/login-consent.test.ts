import { createHash, randomBytes } from 'node:crypto';
import { chromium, type Browser, type BrowserContext, type Page, type Response as PwResponse } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUser } from '../../src/admin/users.js';
import { API, REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * Login, consent and the account page, driven in real Chromium. The client's redirect URI
 * (http://127.0.0.1:9/callback) has nothing listening, so the browser's navigation there is
 * intercepted and answered with a small page (see answerForTheClient); the test reads the URL the
 * browser arrived at.
 */

const CALLBACK_ORIGIN = new URL(REDIRECT_URI).origin;

let server: TestServer;
let fixture: Fixture;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let userCount = 0;

beforeAll(async () => {
  server = await startTestServer('sqlite', { logLevel: 'warn' });
  fixture = await seed(server);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // Port 9 (discard) is on Chromium's list of unsafe ports, refused before request interception
    // sees it; allowing it lets page.route answer for the client's redirect URI. Nothing connects.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--explicitly-allowed-ports=${new URL(REDIRECT_URI).port}`],
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

beforeEach(async () => {
  context = await browser.newContext();
  page = await context.newPage();
  await answerForTheClient(context, page);
});

afterEach(async () => {
  await context?.close();
});

/**
 * Answers the browser's requests to the client's redirect URI with a small page. page.route cannot do
 * it: Playwright routes only the first URL of a redirect chain, and the browser gets here by the
 * server's 303/302. The DevTools Fetch domain pauses every matching request, redirect hops included.
 */
async function answerForTheClient(ctx: BrowserContext, p: Page): Promise<void> {
  const cdp = await ctx.newCDPSession(p);
  const body = Buffer.from('<!doctype html><title>Client callback</title><p>Back at the client.</p>').toString('base64');
  cdp.on('Fetch.requestPaused', (event) => {
    void cdp
      .send('Fetch.fulfillRequest', { requestId: event.requestId, responseCode: 200, responseHeaders: [{ name: 'Content-Type', value: 'text/html' }], body })
      .catch(() => undefined); // the page or context may already be closing
  });
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${CALLBACK_ORIGIN}/*`, requestStage: 'Request' }] });
}

/** A user of its own for each test, so consents remembered by one test never leak into another. */
async function newUser(): Promise<{ id: string; username: string; password: string }> {
  const username = `user${++userCount}`;
  const password = `password-${randomBytes(6).toString('hex')}`;
  const view = await createUser(server.ctx, { username, password, isAdmin: false });
  return { id: view.id, username, password };
}

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(params: Record<string, string>): string {
  const url = new URL('/oauth/authorize', server.url);
  url.search = new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT_URI, ...params }).toString();
  return url.href;
}

const path = (p: Page) => new URL(p.url()).pathname;
const isCallback = (url: URL) => url.origin === CALLBACK_ORIGIN && url.pathname === '/callback';

/** Resolves with the main-frame response to the next request matching `method` and `pathname`. */
function nextResponse(p: Page, method: string, pathname: string): Promise<PwResponse> {
  return p.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === pathname && r.request().frame() === p.mainFrame());
}

async function signIn(p: Page, user: { username: string; password: string }): Promise<PwResponse> {
  expect(path(p)).toBe('/login');
  await p.getByLabel('Username').fill(user.username);
  await p.getByLabel('Password').fill(user.password);
  const [response] = await Promise.all([nextResponse(p, 'POST', '/login'), p.locator('form button[type=submit]').click()]);
  await p.waitForLoadState('load');
  return response;
}

/** Clicks Approve or Deny on the consent page and returns the URL the browser lands on at the client. */
async function decide(p: Page, decision: 'approve' | 'deny'): Promise<URL> {
  expect(path(p)).toBe('/consent');
  await Promise.all([p.waitForURL((url) => isCallback(url)), p.locator(`button[name="decision"][value="${decision}"]`).click()]);
  return new URL(p.url());
}

async function tokenRequest(fields: Record<string, string>, basic?: { client_id: string; client_secret: string }) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(basic.client_id)}:${encodeURIComponent(basic.client_secret)}`).toString('base64')}`;
  const response = await fetch(new URL('/oauth/token', server.url), { method: 'POST', headers, body: new URLSearchParams(fields).toString() });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Public client, PKCE: sign in, approve, land at the client with a code; returns the code and verifier. */
async function approvePublicClient(user: { username: string; password: string }, state: string) {
  const { verifier, challenge } = pkcePair();
  await page.goto(authorizeUrl({ client_id: fixture.publicClient.client_id, scope: 'read:projects', state, code_challenge: challenge, code_challenge_method: 'S256' }));
  await signIn(page, user);
  const callback = await decide(page, 'approve');
  return { callback, verifier };
}

describe('login and consent in Chromium', () => {
  it('runs authorization code + PKCE for a public client, from login to tokens', async () => {
    const user = await newUser();
    const { verifier, challenge } = pkcePair();
    const state = randomBytes(8).toString('hex');

    const loginResponse = await page.goto(
      authorizeUrl({ client_id: fixture.publicClient.client_id, scope: 'read:projects', state, code_challenge: challenge, code_challenge_method: 'S256' }),
    );
    // Not signed in: the authorization request sends the browser to the login page, remembering where it was.
    expect(loginResponse!.status()).toBe(200);
    expect(path(page)).toBe('/login');
    expect(new URL(page.url()).searchParams.get('return_to')).toMatch(/^\/oauth\/authorize\?/);
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: '/tmp/login.png', fullPage: true });

    await signIn(page, user);
    expect(path(page)).toBe('/consent');
    const consentText = await page.locator('main').innerText();
    expect(consentText).toContain('Single Page App');
    expect(consentText).toContain('Read projects');
    expect(consentText).toContain(user.username);
    expect(consentText).not.toContain('Create and change your projects');
    await expect(page.getByRole('button', { name: 'Approve' }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Deny' }).isVisible()).resolves.toBe(true);
    await page.screenshot({ path: '/tmp/consent.png', fullPage: true });

    const callback = await decide(page, 'approve');
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(server.url);
    expect(callback.searchParams.get('error')).toBeNull();
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();
    await expect(page.locator('body').innerText()).resolves.toContain('Back at the client.');

    const tokens = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: fixture.publicClient.client_id,
      code: code!,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
    });
    expect(tokens.status).toBe(200);
    expect(tokens.body.token_type).toMatch(/^bearer$/i);
    expect(typeof tokens.body.access_token).toBe('string');
    expect(typeof tokens.body.refresh_token).toBe('string');
    expect(tokens.body.scope).toBe('read:projects');
    const claims = JSON.parse(Buffer.from(String(tokens.body.access_token).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.sub).toBe(user.id);
    expect(claims.client_id).toBe(fixture.publicClient.client_id);
    expect(claims.aud).toBe(API);
  });

  it('sends access_denied and the state back to the client when the user denies', async () => {
    const user = await newUser();
    const { challenge } = pkcePair();
    const state = 'deny-' + randomBytes(6).toString('hex');
    await page.goto(authorizeUrl({ client_id: fixture.publicClient.client_id, scope: 'read:projects', state, code_challenge: challenge, code_challenge_method: 'S256' }));
    await signIn(page, user);
    await expect(page.locator('main').innerText()).resolves.toContain('Single Page App');

    const callback = await decide(page, 'deny');
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(server.url);
    expect(callback.searchParams.get('code')).toBeNull();

    // Nothing was remembered: the next request asks again.
    await page.goto(authorizeUrl({ client_id: fixture.publicClient.client_id, scope: 'read:projects', state, code_challenge: challenge, code_challenge_method: 'S256' }));
    expect(path(page)).toBe('/consent');
  });

  it('remembers consent for the same scopes and asks again for a new one', async () => {
    const user = await newUser();
    const client = fixture.confidential;
    const visited: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) visited.push(new URL(r.url()).pathname);
    });

    await page.goto(authorizeUrl({ client_id: client.client_id, scope: 'read:projects', state: 's1' }));
    await signIn(page, user);
    await expect(page.locator('main').innerText()).resolves.toContain('Web App');
    const first = await decide(page, 'approve');
    expect(first.searchParams.get('code')).toBeTruthy();

    // Same scopes again: straight back to the client with a code, no consent page on the way.
    visited.length = 0;
    await page.goto(authorizeUrl({ client_id: client.client_id, scope: 'read:projects', state: 's2' }));
    const second = new URL(page.url());
    expect(isCallback(second)).toBe(true);
    expect(second.searchParams.get('state')).toBe('s2');
    const secondCode = second.searchParams.get('code');
    expect(secondCode).toBeTruthy();
    expect(visited).not.toContain('/consent');
    expect(visited).not.toContain('/login');
    const secondTokens = await tokenRequest({ grant_type: 'authorization_code', code: secondCode!, redirect_uri: REDIRECT_URI }, client);
    expect(secondTokens.status).toBe(200);
    expect(secondTokens.body.scope).toBe('read:projects');

    // A new scope: the consent page again, naming it.
    await page.goto(authorizeUrl({ client_id: client.client_id, scope: 'read:projects write:projects', state: 's3' }));
    expect(path(page)).toBe('/consent');
    const consentText = await page.locator('main').innerText();
    expect(consentText).toContain('Web App');
    expect(consentText).toContain('Create and change your projects');
    const third = await decide(page, 'approve');
    expect(third.searchParams.get('state')).toBe('s3');
    const thirdTokens = await tokenRequest({ grant_type: 'authorization_code', code: third.searchParams.get('code')!, redirect_uri: REDIRECT_URI }, client);
    expect(thirdTokens.status).toBe(200);
    expect(String(thirdTokens.body.scope).split(' ').sort()).toEqual(['read:projects', 'write:projects']);
  });

  it('shows an error on the login page for a wrong password and does not sign in', async () => {
    const user = await newUser();
    await page.goto(new URL('/login?return_to=%2F', server.url).href);
    const response = await signIn(page, { username: user.username, password: 'not the password' });
    expect(response.status()).toBe(401);
    expect(path(page)).toBe('/login');
    const alert = page.getByRole('alert');
    await expect(alert.isVisible()).resolves.toBe(true);
    await expect(alert.innerText()).resolves.toContain('Wrong username or password');
    // The form is still there, with the username kept and the password not.
    await expect(page.getByLabel('Username').inputValue()).resolves.toBe(user.username);
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');
    expect((await context.cookies()).some((c) => c.name === 'latchkey_session')).toBe(false);

    // Signing in properly from the error page works.
    await signIn(page, user);
    expect(path(page)).toBe('/');
    await expect(page.locator('main').innerText()).resolves.toContain(user.username);
  });

  it('lists the authorized app on the account page and revokes it', async () => {
    const user = await newUser();
    const { callback, verifier } = await approvePublicClient(user, 'acct');
    const tokens = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: fixture.publicClient.client_id,
      code: callback.searchParams.get('code')!,
      code_verifier: verifier,
      redirect_uri: REDIRECT_URI,
    });
    expect(tokens.status).toBe(200);
    // The refresh token works (and rotates) before the revocation.
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', client_id: fixture.publicClient.client_id, refresh_token: String(tokens.body.refresh_token) });
    expect(refreshed.status).toBe(200);
    const refreshToken = String(refreshed.body.refresh_token);

    await page.goto(server.url + '/');
    expect(path(page)).toBe('/');
    const row = page.locator('tr', { hasText: 'Single Page App' });
    await expect(row.count()).resolves.toBe(1);
    await expect(row.innerText()).resolves.toContain('Read projects');

    await Promise.all([nextResponse(page, 'POST', '/account/apps/revoke'), row.getByRole('button', { name: 'Revoke' }).click()]);
    await page.waitForLoadState('load');
    expect(path(page)).toBe('/');
    const accountText = await page.locator('main').innerText();
    expect(accountText).not.toContain('Single Page App');
    expect(accountText).toContain('You have not authorized any application.');

    const after = await tokenRequest({ grant_type: 'refresh_token', client_id: fixture.publicClient.client_id, refresh_token: refreshToken });
    expect(after.status).toBe(400);
    expect(after.body.error).toBe('invalid_grant');
  });

  it('sends security headers on the login and consent pages and a HttpOnly, SameSite=Lax session cookie', async () => {
    const user = await newUser();
    const { challenge } = pkcePair();
    const loginResponse = await page.goto(
      authorizeUrl({ client_id: fixture.publicClient.client_id, scope: 'read:projects', state: 'h', code_challenge: challenge, code_challenge_method: 'S256' }),
    );
    expect(path(page)).toBe('/login');
    const checkHeaders = async (response: PwResponse) => {
      const headers = await response.allHeaders();
      expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(headers['x-frame-options']).toBe('DENY');
      expect(headers['cache-control']).toContain('no-store');
    };
    await checkHeaders(loginResponse!);

    const consentResponse = nextResponse(page, 'GET', '/consent');
    await signIn(page, user);
    expect(path(page)).toBe('/consent');
    await checkHeaders(await consentResponse);

    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'latchkey_session');
    expect(session, 'session cookie').toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(session!.sameSite).toBe('Lax');
    expect(session!.path).toBe('/');
    expect(session!.secure).toBe(false);
    const loginCsrf = cookies.find((c) => c.name === 'latchkey_login_csrf');
    expect(loginCsrf?.httpOnly).toBe(true);
    expect(loginCsrf?.sameSite).toBe('Lax');
    // Scripts cannot read them.
    await expect(page.evaluate(() => document.cookie)).resolves.not.toContain('latchkey_session');
  });

  it('refuses the login form once its cookie is gone, with the "form has expired" page', async () => {
    const user = await newUser();
    await page.goto(new URL('/login?return_to=%2F', server.url).href);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await context.clearCookies();

    const [response] = await Promise.all([nextResponse(page, 'POST', '/login'), page.locator('form button[type=submit]').click()]);
    await page.waitForLoadState('load');
    expect(response.status()).toBe(403);
    expect(path(page)).toBe('/login');
    await expect(page.getByRole('heading').first().innerText()).resolves.toBe('This form has expired');
    expect((await context.cookies()).some((c) => c.name === 'latchkey_session')).toBe(false);

    // Not signed in: the account page still asks for a login.
    await page.goto(server.url + '/');
    expect(path(page)).toBe('/login');
  });
});
