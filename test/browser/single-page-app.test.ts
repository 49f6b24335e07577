import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { s256 } from '../../src/core/pkce.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * A single-page app on its own origin, as browsers run them: it sends the user to Latchkey, gets the
 * code back on its callback page, and exchanges it with fetch, cross-origin, with no secret but PKCE.
 */
const VERIFIER = 'spa-verifier-0123456789-abcdefghijklmnopqrstuvwxyz';

/** The app's callback page: it exchanges the code, then tries introspection, which must be closed to it. */
function callbackPage(issuer: string, clientId: string): string {
  const config = JSON.stringify({ issuer, clientId, verifier: VERIFIER });
  return `<!doctype html><title>callback</title><script>
const { issuer, clientId, verifier } = ${config};
const code = new URLSearchParams(location.search).get('code');
const form = (fields) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
(async () => {
  const result = {};
  const metadata = await (await fetch(issuer + '/.well-known/oauth-authorization-server')).json();
  const response = await fetch(metadata.token_endpoint, form({ grant_type: 'authorization_code', code, redirect_uri: location.origin + '/callback', client_id: clientId, code_verifier: verifier }));
  result.status = response.status;
  result.tokens = await response.json();
  try {
    await fetch(metadata.introspection_endpoint, form({ token: result.tokens.access_token }));
    result.introspection = 'readable';
  } catch {
    result.introspection = 'blocked';
  }
  document.body.dataset.result = JSON.stringify(result);
  document.title = 'done';
})().catch((e) => { document.body.dataset.result = String(e); document.title = 'failed'; });
</script>`;
}

describe('a single-page app on another origin', () => {
  let server: TestServer;
  let fixture: Fixture;
  let app: Server;
  let appOrigin: string;
  let clientId: string;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer('sqlite', { logLevel: 'warn' });
    fixture = await seed(server);
    app = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(callbackPage(server.url, clientId)));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    clientId = (await createClient(server.ctx, { name: 'Browser App', redirectUris: [`${appOrigin}/callback`], grantTypes: ['authorization_code'], scopes: ['read:projects'], isPublic: true })).client_id;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
    await server?.stop();
  });

  it('exchanges its code from the browser, while introspection stays closed to it', async () => {
    const page = await browser.newPage();
    const authorize = new URL('/oauth/authorize', server.url);
    authorize.search = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: `${appOrigin}/callback`,
      scope: 'read:projects',
      code_challenge: s256(VERIFIER),
      code_challenge_method: 'S256',
    }).toString();
    await page.goto(authorize.href);
    await page.fill('input[name=username]', fixture.user.username);
    await page.fill('input[name=password]', fixture.user.password);
    await page.click('button[type=submit]');
    await page.click('button[name=decision][value=approve]');
    await page.waitForFunction(() => document.title === 'done' || document.title === 'failed', undefined, { timeout: 15_000 });
    expect(page.url().startsWith(`${appOrigin}/callback?code=`)).toBe(true);
    const result = JSON.parse((await page.getAttribute('body', 'data-result'))!) as { status: number; tokens: { access_token?: string; scope?: string }; introspection: string };
    expect(result.status).toBe(200);
    expect(result.tokens.access_token).toMatch(/^eyJ/);
    expect(result.tokens.scope).toBe('read:projects');
    expect(result.introspection).toBe('blocked');
  });
});
