import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s256 } from '../../src/core/pkce.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/**
 * Runs every flow at debug level, collecting each secret, code and token it handles, then reads the
 * whole log for any of them. Also checks one structured line per request, without query strings.
 */
describe('logs', () => {
  let server: TestServer;
  let fixture: Fixture;
  const secrets = new Map<string, string>();
  const remember = (name: string, value: string | undefined) => {
    expect(value, name).toBeTruthy();
    secrets.set(name, value!);
  };

  beforeAll(async () => {
    server = await startTestServer('sqlite', { logLevel: 'debug' });
    fixture = await seed(server);
    remember('master key', server.masterKey);
    remember('confidential client secret', fixture.confidential.client_secret);
    remember('machine client secret', fixture.machine.client_secret);
    remember('user password', fixture.user.password);
    remember('api key', fixture.apiKey);

    const post = async (path: string, fields: Record<string, string>, authorization?: string) => {
      const response = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
        body: form(fields),
      });
      return { status: response.status, body: (await response.json()) as Record<string, string> };
    };

    // Authorization code + PKCE, through login and consent.
    const verifier = 'v'.repeat(20) + 'erifier-for-the-log-test-0123456789';
    remember('code verifier', verifier);
    const agent = new BrowserAgent(server.url);
    const state = 'state-value-0123456789';
    const authorize = new URL(`${server.url}/oauth/authorize`);
    authorize.search = form({
      client_id: fixture.confidential.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'read:projects',
      state,
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
    });
    const callback = await agent.authorize(authorize, fixture.user);
    const code = callback.searchParams.get('code')!;
    remember('authorization code', code);
    remember('session cookie', agent.cookie('latchkey_session'));

    const auth = basic(fixture.confidential.client_id, fixture.confidential.client_secret);
    const tokens = await post('/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }, auth);
    expect(tokens.status).toBe(200);
    remember('access token', tokens.body.access_token);
    remember('refresh token', tokens.body.refresh_token);

    const refreshed = await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token! }, auth);
    expect(refreshed.status).toBe(200);
    remember('rotated refresh token', refreshed.body.refresh_token);
    // Reuse of the first refresh token: a failure path that handles a token.
    expect((await post('/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token! }, auth)).status).toBe(400);

    const machine = await post('/oauth/token', { grant_type: 'client_credentials', client_id: fixture.machine.client_id, client_secret: fixture.machine.client_secret });
    expect(machine.status).toBe(200);
    remember('client credentials token', machine.body.access_token);

    expect((await post('/oauth/introspect', { token: machine.body.access_token! }, auth)).status).toBe(200);
    expect((await post('/oauth/revoke', { token: refreshed.body.refresh_token! }, auth)).status).toBe(200);
    // Failed client authentication and a wrong password.
    expect((await post('/oauth/token', { grant_type: 'client_credentials' }, basic(fixture.machine.client_id, 'wrong-secret-value-123'))).status).toBe(401);
    remember('wrong client secret', 'wrong-secret-value-123');
    const wrong = new BrowserAgent(server.url);
    const page = await (await wrong.get('/login')).text();
    expect((await wrong.submitForm(page, '/login', { username: fixture.user.username, password: 'not-the-password-42' })).status).toBe(401);
    remember('wrong password', 'not-the-password-42');

    // The admin API with the API key, and a request with a query string.
    expect((await fetch(`${server.url}/api/v1/admin/clients`, { headers: { authorization: `Bearer ${fixture.apiKey}` } })).status).toBe(200);
    await fetch(`${server.url}/.well-known/jwks.json?marker=query-string-marker`);
  });
  afterAll(async () => server?.stop());

  it('never contains a secret, code or token that the flows handled', () => {
    const logs = server.logs();
    expect(logs.length).toBeGreaterThan(1000);
    for (const [name, value] of secrets) {
      expect(logs.includes(value), `the log contains the ${name}`).toBe(false);
    }
  });

  it('writes one JSON line per request, with the path but not the query string', () => {
    const lines = server.logs().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    const jwks = requests.filter((l) => l.path === '/.well-known/jwks.json');
    expect(jwks).toHaveLength(1);
    expect(jwks[0]).toMatchObject({ method: 'GET', status: 200 });
    expect(typeof jwks[0]!.reqId).toBe('string');
    expect(server.logs()).not.toContain('query-string-marker');
    expect(requests.filter((l) => l.path === '/oauth/token').length).toBe(5);
    expect(requests.some((l) => String(l.path).includes('?'))).toBe(false);
  });
});
