import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { authorizeUrl, obtainCode, pkcePair, tokenRequest, type Credentials } from '../helpers/hardening.js';
import { REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/** An authorization error sent back to the client's redirect URI, with state and iss (RFC 9207). */
function expectRedirectedError(response: Response, redirectUri: string, error: string, issuer: string): void {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location') ?? 'about:blank');
  expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
  expect(location.searchParams.get('error')).toBe(error);
  expect(location.searchParams.get('state')).toBe('st');
  expect(location.searchParams.get('iss')).toBe(issuer);
  expect(location.searchParams.has('code')).toBe(false);
}

describe.each(DATABASE_KINDS)('PKCE required from every client, LATCHKEY_REQUIRE_PKCE=all (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;
  let agent: BrowserAgent;

  beforeAll(async () => {
    server = await startTestServer(kind, {
      logLevel: 'warn',
      configure: (c) => {
        c.requirePkce = 'all';
      },
    });
    fixture = await seed(server);
    agent = new BrowserAgent(server.url);
    // Signed in and consented once, so that the requests below reach the PKCE check with a session.
    await obtainCode(agent, server, fixture.user, { client_id: fixture.publicClient.client_id, ...challengeOf(pkcePair()) });
  });
  afterAll(async () => server?.stop());

  function challengeOf(p: { challenge: string }) {
    return { code_challenge: p.challenge, code_challenge_method: 'S256', scope: 'read:projects' };
  }

  it('refuses a confidential client without code_challenge with a redirect carrying invalid_request', async () => {
    for (const a of [agent, new BrowserAgent(server.url)]) {
      const response = await a.get(authorizeUrl(server, { client_id: fixture.confidential.client_id, scope: 'read:projects' }).toString().slice(server.url.length));
      expectRedirectedError(response, REDIRECT_URI, 'invalid_request', server.url);
    }
  });

  it('lets a confidential client with S256 PKCE through, and holds it to its verifier', async () => {
    const pair = pkcePair();
    const code = await obtainCode(agent, server, fixture.user, { client_id: fixture.confidential.client_id, ...challengeOf(pair) });
    const withoutVerifier = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, fixture.confidential);
    expect(withoutVerifier.status, withoutVerifier.text).toBe(400);
    expect(withoutVerifier.json.error).toBe('invalid_grant');

    const again = await obtainCode(agent, server, fixture.user, { client_id: fixture.confidential.client_id, ...challengeOf(pair) });
    const answer = await tokenRequest(server, { grant_type: 'authorization_code', code: again, redirect_uri: REDIRECT_URI, code_verifier: pair.verifier }, fixture.confidential);
    expect(answer.status, answer.text).toBe(200);
    expect(typeof answer.json.access_token).toBe('string');
  });

  it('still refuses plain PKCE from a confidential client', async () => {
    const pair = pkcePair();
    const url = authorizeUrl(server, { client_id: fixture.confidential.client_id, code_challenge: pair.verifier, code_challenge_method: 'plain' });
    expectRedirectedError(await agent.get(url.pathname + url.search), REDIRECT_URI, 'invalid_request', server.url);
  });
});

describe.each(DATABASE_KINDS)('authorization requests with the default settings (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;
  let agent: BrowserAgent;
  let loopback: Credentials;
  let loopbackV6: Credentials;
  let hosted: Credentials;

  beforeAll(async () => {
    server = await startTestServer(kind, { logLevel: 'warn' });
    fixture = await seed(server);
    agent = new BrowserAgent(server.url);
    const confidential = async (name: string, redirectUris: string[]): Promise<Credentials> => {
      const c = await createClient(server.ctx, { name, redirectUris, grantTypes: ['authorization_code'], scopes: ['read:projects'], isPublic: false });
      return { client_id: c.client_id, client_secret: c.client_secret! };
    };
    loopback = await confidential('Native on 127.0.0.1', ['http://127.0.0.1/cb']);
    loopbackV6 = await confidential('Native on [::1] and localhost', ['http://[::1]:8000/cb', 'http://localhost/cb?app=1']);
    hosted = await confidential('Hosted', ['https://app.example.com/cb']);
  });
  afterAll(async () => server?.stop());

  it('lets a confidential client skip PKCE when LATCHKEY_REQUIRE_PKCE is public (the default)', async () => {
    expect(server.ctx.config.requirePkce).toBe('public');
    const code = await obtainCode(agent, server, fixture.user, { client_id: fixture.confidential.client_id, scope: 'read:projects' });
    const answer = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, fixture.confidential);
    expect(answer.status, answer.text).toBe(200);
  });

  it('still refuses a public client without PKCE', async () => {
    const url = authorizeUrl(server, { client_id: fixture.publicClient.client_id, scope: 'read:projects' });
    expectRedirectedError(await agent.get(url.pathname + url.search), REDIRECT_URI, 'invalid_request', server.url);
  });

  it('completes the code flow for http://127.0.0.1/cb on port 54321, the token request repeating that URI', async () => {
    const redirectUri = 'http://127.0.0.1:54321/cb';
    const back = await agent.authorize(authorizeUrl(server, { client_id: loopback.client_id, redirect_uri: redirectUri, scope: 'read:projects' }), fixture.user);
    expect(`${back.origin}${back.pathname}`).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe('st');
    const code = back.searchParams.get('code')!;
    expect(code).toBeTruthy();

    // The token request must name the URI the code was sent to, not the registered one or another port.
    for (const other of ['http://127.0.0.1/cb', 'http://127.0.0.1:54322/cb']) {
      const refused = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: other }, loopback);
      expect(refused.status, `${other}: ${refused.text}`).toBe(400);
      expect(refused.json.error).toBe('invalid_grant');
    }
  });

  it('redeems a loopback code with exactly the URI it was sent to', async () => {
    const redirectUri = 'http://127.0.0.1:54321/cb';
    const code = await obtainCode(agent, server, fixture.user, { client_id: loopback.client_id, redirect_uri: redirectUri, scope: 'read:projects' });
    const answer = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: redirectUri }, loopback);
    expect(answer.status, answer.text).toBe(200);
  });

  it.each([
    ['[::1] on another port', 'http://[::1]:61000/cb'],
    ['localhost on a port, with the registered query', 'http://localhost:61001/cb?app=1'],
    ['127.0.0.1 without a port', 'http://127.0.0.1/cb'],
  ])('matches %s', async (_name, redirectUri) => {
    const client = redirectUri.includes('127.0.0.1') ? loopback : loopbackV6;
    const url = authorizeUrl(server, { client_id: client.client_id, redirect_uri: redirectUri, scope: 'read:projects' });
    const response = await agent.get(url.pathname + url.search);
    // Accepted: on to consent or straight back to the client, never the error page.
    expect(response.status, await response.clone().text()).toBe(302);
    const location = new URL(response.headers.get('location')!, server.url);
    if (location.origin !== new URL(server.url).origin) expect(`${location.origin}${location.pathname}`).toBe(redirectUri.split('?')[0]);
  });

  it.each([
    ['another loopback host', 'http://localhost:54321/cb', 'v4'],
    ['another path', 'http://127.0.0.1:54321/cb2', 'v4'],
    ['an added query', 'http://127.0.0.1:54321/cb?x=1', 'v4'],
    ['https on the loopback', 'https://127.0.0.1:54321/cb', 'v4'],
    ['user information', 'http://user@127.0.0.1:54321/cb', 'v4'],
    ['a missing registered query', 'http://localhost:61001/cb', 'v6'],
    ['a port on a hosted https URI', 'https://app.example.com:8443/cb', 'hosted'],
  ])('refuses %s with an error page and no redirect', async (_name, redirectUri, which) => {
    const client = which === 'v4' ? loopback : which === 'v6' ? loopbackV6 : hosted;
    const url = authorizeUrl(server, { client_id: client.client_id, redirect_uri: redirectUri, scope: 'read:projects' });
    const response = await agent.get(url.pathname + url.search);
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
  });
});
