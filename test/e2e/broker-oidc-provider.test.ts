import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openToken } from '../../src/broker/token-state.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { OIDC_ACCOUNT, OIDC_SCOPES, startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * The broker against a real, independent OpenID provider (oidc-provider): registered from its
 * discovery document alone, connected through login and consent, refreshed when its 4 s access token
 * runs out (its refresh tokens rotate on every use), and revoked there on delete.
 */

const NAME = 'oidc';

describe.each(DATABASE_KINDS)('the broker with an oidc-provider OpenID provider (%s)', (kind) => {
  let broker: TestServer;
  let fixture: Fixture;
  let op: OidcProvider;
  let accessToken: string;

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${broker.url}${path}`, { ...init, headers: { authorization: `Bearer ${fixture.apiKey}`, ...(init.body !== undefined && { 'content-type': 'application/json' }) } });
  const credentials = () => api(`/api/v1/credentials/oauth/connections/${NAME}/token?user_id=${fixture.user.id}`);
  /** The refresh token the broker holds, read from its own store. */
  const storedRefreshToken = async () => {
    const connection = await broker.ctx.store.connections.find(NAME, fixture.user.id, null);
    return openToken(broker.ctx, connection!, 'refresh');
  };
  /** A refresh grant at the provider, as the broker's client, outside the broker. */
  const refreshAtProvider = (refreshToken: string) =>
    fetch(`${op.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${op.client.client_id}:${op.client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
    });

  beforeAll(async () => {
    broker = await startTestServer(kind, { logLevel: 'warn' });
    fixture = await seed(broker);
    op = await startOidcProvider({ redirectUri: `${broker.url}/api/v1/credentials/auth/callback/${NAME}`, accessTokenTtlSeconds: 4 });
  });
  afterAll(async () => {
    await broker?.stop();
    await op?.stop();
  });

  /** Registers `provider` under `name` from its issuer alone: the broker reads the rest from discovery. */
  const register = (name: string, provider: OidcProvider) =>
    api('/api/v1/credentials/oauth/register', {
      method: 'POST',
      body: JSON.stringify({
        provider_name: name,
        client_id: provider.client.client_id,
        client_secret: provider.client.client_secret,
        // oidc-provider keeps offline_access (and so issues a refresh token) only with prompt=consent.
        token_data: { issuer: provider.issuer, scopes: OIDC_SCOPES, authorization_params: { prompt: 'consent' } },
      }),
    });

  /**
   * Alice signs in at the broker, starts a flow for `name` and passes the provider's login and
   * consent (finished at once by its interaction route); returns the callback's answer.
   */
  const connect = async (name: string, provider: OidcProvider): Promise<Response> => {
    const atBroker = new BrowserAgent(broker.url);
    const login = await atBroker.submitForm(await (await atBroker.get('/login')).text(), '/login', { username: fixture.user.username, password: fixture.user.password });
    expect(login.status).toBe(303);

    const start = await atBroker.get(`/api/v1/credentials/auth/${name}?return_to=/done`);
    expect(start.status).toBe(302);
    const authorize = new URL(start.headers.get('location')!);
    expect(authorize.origin + authorize.pathname).toBe(`${provider.issuer}/auth`);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('scope')).toBe(OIDC_SCOPES.join(' '));

    const atProvider = new BrowserAgent(provider.issuer);
    const { external: callback } = await atProvider.follow(await atProvider.get(authorize.pathname + authorize.search));
    expect(callback?.origin + callback!.pathname).toBe(`${broker.url}/api/v1/credentials/auth/callback/${name}`);
    expect(callback!.searchParams.get('iss')).toBe(provider.issuer);
    return atBroker.get(callback!.pathname + callback!.search);
  };

  it('registers the provider from its issuer alone, through discovery', async () => {
    const response = await register(NAME, op);
    expect(response.status, await response.clone().text()).toBe(201);
    const providers = (await (await api('/api/v1/credentials/oauth/providers')).json()) as Record<string, unknown>[];
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({
      provider_name: NAME,
      authorize_url: `${op.issuer}/auth`,
      token_url: `${op.issuer}/token`,
      revoke_url: `${op.issuer}/token/revocation`,
      scopes: OIDC_SCOPES,
    });
    expect(JSON.stringify(providers)).not.toContain(op.client.client_secret);
  });

  it('connects through login and consent at the provider, learning the account from the ID token', async () => {
    const done = await connect(NAME, op);
    expect(done.status, await done.clone().text()).toBe(302);
    expect(done.headers.get('location')).toBe('/done');

    const list = (await (await api(`/api/v1/credentials/oauth/connections?provider_name=${NAME}`)).json()) as Record<string, unknown>[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ provider_name: NAME, user_id: fixture.user.id, status: 'active', account_id: OIDC_ACCOUNT.sub, account_email: OIDC_ACCOUNT.email });
    expect(list[0]!.scopes).toEqual(expect.arrayContaining(OIDC_SCOPES));
    expect(list[0]!.expires_at).not.toBeNull();
  });

  it('hands out an access token the provider accepts', async () => {
    const response = await credentials();
    const body = (await response.json()) as { access_token: string; expires_in: number };
    expect(response.status, JSON.stringify(body)).toBe(200);
    expect(body.expires_in).toBeLessThanOrEqual(4);
    accessToken = body.access_token;
    const userinfo = await op.userinfo(accessToken);
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: OIDC_ACCOUNT.sub, email: OIDC_ACCOUNT.email });
  });

  it('refreshes after the access token runs out, and the rotated-away refresh token is dead at the provider', async () => {
    const firstRefreshToken = (await storedRefreshToken())!;
    expect((await op.introspect(firstRefreshToken)).active).toBe(true);

    // The 4 s token is refreshed 2 s into its life (half its lifetime); bounded poll.
    let renewed: string | undefined;
    for (let i = 0; i < 60 && renewed === undefined; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const body = (await (await credentials()).json()) as { access_token: string };
      if (body.access_token !== accessToken) renewed = body.access_token;
    }
    expect(renewed, 'the access token was never renewed').toBeDefined();
    expect((await op.userinfo(renewed!)).status).toBe(200);

    const secondRefreshToken = (await storedRefreshToken())!;
    expect(secondRefreshToken).not.toBe(firstRefreshToken);
    expect((await op.introspect(firstRefreshToken)).active).toBe(false);
    expect((await op.introspect(secondRefreshToken)).active).toBe(true);
    accessToken = renewed!;
  });

  it('revokes at the provider on delete', async () => {
    const refreshToken = (await storedRefreshToken())!;
    const response = await api(`/api/v1/credentials/oauth/connections/${NAME}?user_id=${fixture.user.id}`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, provider_revoked: true });

    expect((await op.introspect(refreshToken)).active).toBe(false);
    const refused = await refreshAtProvider(refreshToken);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await op.userinfo(accessToken)).status).toBe(401);
    expect((await credentials()).status).toBe(404);
  });

  it('learns the email from userinfo when the ID token leaves it out (OpenID Connect Core §5.4)', async () => {
    const name = 'oidc-userinfo';
    const strict = await startOidcProvider({ redirectUri: `${broker.url}/api/v1/credentials/auth/callback/${name}`, accessTokenTtlSeconds: 60, emailInIdToken: false });
    try {
      expect((await register(name, strict)).status).toBe(201);
      expect((await connect(name, strict)).status).toBe(302);
      const list = (await (await api(`/api/v1/credentials/oauth/connections?provider_name=${name}`)).json()) as Record<string, unknown>[];
      expect(list[0]).toMatchObject({ status: 'active', account_id: OIDC_ACCOUNT.sub, account_email: OIDC_ACCOUNT.email });
    } finally {
      await strict.stop();
    }
  });
});
