import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { API, REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * Every grant, run by oauth4webapi: a strict, standards-following client written elsewhere. It checks
 * metadata, `iss` in authorization responses (RFC 9207), token responses and RFC 9068 access tokens.
 */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(DATABASE_KINDS)('OAuth flows with a standard client (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    server = await startTestServer(kind);
    fixture = await seed(server);
    const issuer = new URL(server.url);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
  });
  afterAll(async () => server?.stop());

  /** A resource server's view of the token: oauth4webapi validates it as RFC 9068 requires. */
  async function validateAtResourceServer(accessToken: string, audience = API) {
    const request = new Request('https://api.example.com/v1/projects', { headers: { authorization: `Bearer ${accessToken}` } });
    return oauth.validateJwtAccessToken(as, request, audience, insecure);
  }

  async function authorizeWithPkce(client: oauth.Client, extra: Record<string, string> = {}) {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'read:projects',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    }).toString();
    const callback = await new BrowserAgent(server.url).authorize(url, fixture.user);
    return { verifier, params: oauth.validateAuthResponse(as, client, callback, state) };
  }

  it('publishes RFC 8414 metadata that names every endpoint', () => {
    expect(as.issuer).toBe(server.url);
    expect(as.token_endpoint).toBe(`${server.url}/oauth/token`);
    expect(as.revocation_endpoint).toBe(`${server.url}/oauth/revoke`);
    expect(as.introspection_endpoint).toBe(`${server.url}/oauth/introspect`);
    expect(as.jwks_uri).toBe(`${server.url}/.well-known/jwks.json`);
    expect(as.code_challenge_methods_supported).toEqual(['S256']);
    expect(as.authorization_response_iss_parameter_supported).toBe(true);
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'none']));
  });

  it('serves the same document as OpenID discovery', async () => {
    const issuer = new URL(server.url);
    const oidc = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }));
    expect(oidc.token_endpoint).toBe(as.token_endpoint);
  });

  it('runs authorization code + PKCE for a public client, then rotates its refresh token', async () => {
    const client: oauth.Client = { client_id: fixture.publicClient.client_id };
    const { verifier, params } = await authorizeWithPkce(client);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URI, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope).toBe('read:projects');
    expect(tokens.refresh_token).toMatch(/^lkrt_/);

    const claims = await validateAtResourceServer(tokens.access_token);
    expect(claims.sub).toBe(fixture.user.id);
    expect(claims.client_id).toBe(client.client_id);
    expect(claims.scope).toBe('read:projects');

    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, insecure),
    );
    expect(refreshed.refresh_token).toBeDefined();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await validateAtResourceServer(refreshed.access_token)).sub).toBe(fixture.user.id);
  });

  it('runs authorization code for a confidential client with client_secret_basic', async () => {
    const client: oauth.Client = { client_id: fixture.confidential.client_id };
    const { verifier, params } = await authorizeWithPkce(client, { scope: 'read:projects write:projects' });
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(fixture.confidential.client_secret), params, REDIRECT_URI, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.scope).toBe('read:projects write:projects');
    const claims = await validateAtResourceServer(tokens.access_token);
    expect(claims.aud).toBe(API);
    expect(claims.iss).toBe(server.url);
  });

  it('runs authorization code for a confidential client without PKCE, with client_secret_post', async () => {
    const client: oauth.Client = { client_id: fixture.confidential.client_id };
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: client.client_id, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'read:projects', state }).toString();
    const callback = await new BrowserAgent(server.url).authorize(url, fixture.user);
    const params = oauth.validateAuthResponse(as, client, callback, state);
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretPost(fixture.confidential.client_secret), params, REDIRECT_URI, oauth.nopkce, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    expect(tokens.access_token).toBeTruthy();
  });

  it('issues tokens for the API named with resource (RFC 8707), with its own scopes', async () => {
    const client: oauth.Client = { client_id: fixture.confidential.client_id };
    const { verifier, params } = await authorizeWithPkce(client, { scope: 'read:invoices', resource: 'https://billing.example.com' });
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(fixture.confidential.client_secret), params, REDIRECT_URI, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    const claims = await validateAtResourceServer(tokens.access_token, 'https://billing.example.com');
    expect(claims.scope).toBe('read:invoices');
  });

  describe.each([
    ['client_secret_basic', (secret: string) => oauth.ClientSecretBasic(secret)],
    ['client_secret_post', (secret: string) => oauth.ClientSecretPost(secret)],
  ] as const)('client credentials with %s', (_name, auth) => {
    it('issues an access token for the client itself, without a refresh token', async () => {
      const client: oauth.Client = { client_id: fixture.machine.client_id };
      const response = await oauth.clientCredentialsGrantRequest(as, client, auth(fixture.machine.client_secret), new URLSearchParams({ scope: 'read:projects' }), insecure);
      const tokens = await oauth.processClientCredentialsResponse(as, client, response);
      expect(tokens.refresh_token).toBeUndefined();
      const claims = await validateAtResourceServer(tokens.access_token);
      expect(claims.sub).toBe(client.client_id);
      expect(claims.scope).toBe('read:projects');
    });
  });

  it('picks the API with audience as well as resource, and defaults to every allowed scope', async () => {
    const client: oauth.Client = { client_id: fixture.machine.client_id };
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      client,
      oauth.ClientSecretBasic(fixture.machine.client_secret),
      new URLSearchParams({ audience: 'https://billing.example.com' }),
      insecure,
    );
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    const claims = await validateAtResourceServer(tokens.access_token, 'https://billing.example.com');
    expect(claims.scope).toBe('read:invoices');
  });

  it('revokes a refresh token and, with it, the access tokens of its grant (RFC 7009)', async () => {
    const client: oauth.Client = { client_id: fixture.confidential.client_id };
    const auth = oauth.ClientSecretBasic(fixture.confidential.client_secret);
    const { verifier, params } = await authorizeWithPkce(client);
    const tokens = await oauth.processAuthorizationCodeResponse(
      as,
      client,
      await oauth.authorizationCodeGrantRequest(as, client, auth, params, REDIRECT_URI, verifier, insecure),
    );
    const before = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
    expect(before.active).toBe(true);
    expect(before.sub).toBe(fixture.user.id);

    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, auth, tokens.refresh_token!, insecure));

    const after = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
    expect(after.active).toBe(false);
    await expect(
      oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, insecure)),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('introspects a client-credentials token for a resource server (RFC 7662)', async () => {
    const machine: oauth.Client = { client_id: fixture.machine.client_id };
    const machineAuth = oauth.ClientSecretPost(fixture.machine.client_secret);
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      machine,
      await oauth.clientCredentialsGrantRequest(as, machine, machineAuth, new URLSearchParams(), insecure),
    );
    // Another confidential client (here, the web app) introspects it, as a resource server would.
    const caller: oauth.Client = { client_id: fixture.confidential.client_id };
    const result = await oauth.processIntrospectionResponse(
      as,
      caller,
      await oauth.introspectionRequest(as, caller, oauth.ClientSecretBasic(fixture.confidential.client_secret), tokens.access_token, insecure),
    );
    expect(result).toMatchObject({ active: true, client_id: machine.client_id, sub: machine.client_id, aud: API, iss: server.url, token_type: 'Bearer' });
    // No scope asked, default API: every scope the client may have there.
    expect(result.scope).toBe('read:projects');
  });
});

describe.each(DATABASE_KINDS)('what a client-credentials token costs the database (%s)', (kind) => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  /** Every row of every table, so that any write at all shows as a difference. */
  async function snapshot(store: KyselyStore): Promise<string> {
    const tables = ['apis', 'clients', 'users', 'api_keys', 'signing_keys', 'grants', 'authorization_codes', 'refresh_tokens', 'access_tokens', 'consents', 'sessions', 'interactions', 'rate_limits', 'locks'] as const;
    const parts: string[] = [];
    for (const table of tables) parts.push(JSON.stringify(await store.db.selectFrom(table).selectAll().execute()));
    return parts.join('\n');
  }

  it('issues it without writing anything', async () => {
    server = await startTestServer(kind, { logLevel: 'warn' });
    const fixture = await seed(server);
    const store = server.ctx.store as KyselyStore;
    const before = await snapshot(store);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: fixture.machine.client_id, client_secret: fixture.machine.client_secret }).toString(),
      });
      expect(response.status).toBe(200);
    }
    expect(await snapshot(store)).toBe(before);
  });
});
