import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExampleApi } from '../../examples/protected-api/server.js';
import { s256 } from '../../src/core/pkce.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { API, REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/** The example API, protected by the SDK, against a real Latchkey: what a company's API sees. */
describe('a protected API with the resource-server helper', () => {
  let server: TestServer;
  let fixture: Fixture;
  let checked: FastifyInstance;
  let offline: FastifyInstance;
  let tokens: { access_token: string; refresh_token: string };

  beforeAll(async () => {
    server = await startTestServer('sqlite', { logLevel: 'warn' });
    fixture = await seed(server);
    checked = buildExampleApi({ issuer: server.url, audience: API, introspection: { clientId: fixture.machine.client_id, clientSecret: fixture.machine.client_secret } });
    offline = buildExampleApi({ issuer: server.url, audience: API });

    const verifier = 'resource-server-test-verifier-0123456789abcdef';
    const url = new URL(`${server.url}/oauth/authorize`);
    url.search = new URLSearchParams({
      client_id: fixture.confidential.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'read:projects',
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
    }).toString();
    const callback = await new BrowserAgent(server.url).authorize(url, fixture.user);
    const response = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_id: fixture.confidential.client_id,
        client_secret: fixture.confidential.client_secret,
      }).toString(),
    });
    tokens = (await response.json()) as typeof tokens;
  });
  afterAll(async () => {
    await checked?.close();
    await offline?.close();
    await server?.stop();
  });

  const call = (app: FastifyInstance, method: 'GET' | 'POST', token?: string) =>
    app.inject({
      method,
      url: '/v1/projects',
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(method === 'POST' && { payload: { name: 'Apollo' } }),
    });

  it('serves a route whose scope the token carries', async () => {
    const response = await call(checked, 'GET', tokens.access_token);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ projects: [] });
  });

  it('refuses a missing token with 401 and a bare Bearer challenge (RFC 6750 §3.1)', async () => {
    const response = await call(checked, 'GET');
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+"$/);
  });

  it('refuses a route whose scope the token lacks with 403 insufficient_scope', async () => {
    const response = await call(checked, 'POST', tokens.access_token);
    expect(response.statusCode).toBe(403);
    expect(response.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect(response.headers['www-authenticate']).toContain('scope="write:projects"');
  });

  it('refuses a token of another issuer’s keys: a tampered signature', async () => {
    const [h, p] = tokens.access_token.split('.');
    const response = await call(checked, 'GET', `${h}.${p}.${'A'.repeat(342)}`);
    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a revoked token when it asks introspection, while offline checks cannot know', async () => {
    const revoke = await fetch(`${server.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refresh_token, client_id: fixture.confidential.client_id, client_secret: fixture.confidential.client_secret }).toString(),
    });
    expect(revoke.status).toBe(200);

    const refused = await call(checked, 'GET', tokens.access_token);
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token"');
    // Signature and expiry alone still accept it: this is why the revocation check exists.
    expect((await call(offline, 'GET', tokens.access_token)).statusCode).toBe(200);
  });
});
