import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/admin/users.js';
import {
  InvalidRequestError,
  Latchkey,
  NeedsReauthError,
  NotFoundError,
  PendingError,
  ProviderUnavailableError,
  verifyWebhookSignature,
  type Connection,
  type WebhookEvent,
} from '../../src/sdk/index.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import {
  api,
  authorizeThroughLink,
  closedPort,
  introspectAtProvider,
  PROVIDER,
  registrationBody,
  startBrokerAndProvider,
  stopAll,
  TwoSiteBrowser,
  type BrokerSetup,
  type ProviderUser,
} from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

const PYTHON_DIR = fileURLToPath(new URL('../../python/', import.meta.url));
/** A client-credentials provider whose token endpoint is a closed port. */
const DOWN = 'down';
const REAUTH_USER = 'cust-reauth';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Polls until `check` returns a value; bounded, so a broken broker fails the test instead of hanging it. */
async function until<T>(ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A webhook receiver that keeps every request it gets, raw body included, and answers 200. */
async function startReceiver(): Promise<{ url: string; received: { headers: IncomingHttpHeaders; body: string }[]; close: () => Promise<void> }> {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The provider user revokes the broker's access from their account page at the provider. */
async function revokeGrantAtProvider(atProvider: BrowserAgent): Promise<void> {
  const account = await (await atProvider.get('/')).text();
  expect(account).toContain('Broker');
  const revoked = await atProvider.submitForm(account, '/account/apps/revoke', {});
  expect(revoked.status).toBe(303);
  expect(await (await atProvider.get('/')).text()).not.toContain('Broker');
}

interface World {
  setup: BrokerSetup;
  latchkey: Latchkey;
  /** The broker user whose browser connection to acme is active. */
  activeUserId: string;
  carol: ProviderUser & { id: string };
  downSecret: string;
}

/**
 * A broker with acme (a second Latchkey, 4-second access tokens) and a client-credentials provider
 * that is down; an active browser connection (alice) and a portal connection in needs_reauth (bob,
 * whose grant was revoked at the provider).
 */
async function prepare(kind: 'sqlite' | 'postgres'): Promise<World> {
  const setup = await startBrokerAndProvider(kind, { accessTokenTtlSeconds: 4 });
  const latchkey = new Latchkey({ url: setup.broker.url, apiKey: setup.brokerFixture.apiKey });
  const bob = { username: 'bob', password: 'bob battery staple' };
  const carol = { username: 'carol', password: 'carol battery staple' };
  await createUser(setup.provider.ctx, { ...bob, isAdmin: false });
  const carolId = (await createUser(setup.provider.ctx, { ...carol, isAdmin: false })).id;

  const acme = await latchkey.registerProvider(registrationBody(setup));
  expect(acme).toEqual({ success: true, provider_id: expect.stringMatching(/^prv_/), message: 'provider acme registered' });
  const downSecret = `down-secret-${Date.now()}`;
  await latchkey.registerProvider({
    provider_name: DOWN,
    client_id: 'down-client',
    client_secret: downSecret,
    token_data: { token_url: `http://127.0.0.1:${await closedPort()}/oauth/token`, grant_type: 'client_credentials', scopes: ['read:projects'] },
  });

  const browser = new TwoSiteBrowser(setup);
  await browser.signInAtBroker();
  expect((await browser.connect()).headers.get('location')).toBe('/done');

  const pending = await latchkey.createConnection({ providerName: PROVIDER, userId: REAUTH_USER });
  const bobAtProvider = await authorizeThroughLink(setup, (await latchkey.authorizationUrl(pending.id)).authorizationURL, bob);
  await revokeGrantAtProvider(bobAtProvider);
  const [connection] = await latchkey.listConnections({ userId: REAUTH_USER });
  // Once the token is past its expiry it is certainly inside the refresh margin: the next ask refreshes.
  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(connection!.expires_at!) - Date.now() + 50)));
  const asked = await api(setup, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${REAUTH_USER}`);
  expect(asked.status).toBe(409);
  expect(await asked.json()).toMatchObject({ error: 'needs_reauth' });

  return { setup, latchkey, activeUserId: setup.brokerFixture.user.id, carol: { ...carol, id: carolId }, downSecret };
}

describe.each(DATABASE_KINDS)('broker clients against a running broker (%s)', (kind) => {
  let world: World;
  beforeAll(async () => {
    world = await prepare(kind);
  });
  afterAll(async () => stopAll(world?.setup));

  describe('Node SDK', () => {
    it('returns a token the provider accepts', async () => {
      const { latchkey, setup, activeUserId } = world;
      const creds = await latchkey.credentials(PROVIDER, { userId: activeUserId });
      expect(creds).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_at: expect.stringMatching(ISO),
        expires_in: expect.any(Number),
        scopes: ['read:projects'],
        connection_id: expect.stringMatching(/^conn_/),
        connection_config: {},
      });
      expect(creds.expires_in).toBeGreaterThan(0);
      expect(await introspectAtProvider(setup, creds.access_token)).toMatchObject({
        active: true,
        client_id: setup.client.client_id,
        sub: setup.providerFixture.user.id,
        scope: 'read:projects',
      });
    });

    it('throws NeedsReauthError for a connection whose grant was revoked at the provider', async () => {
      const failure = await world.latchkey.credentials(PROVIDER, { userId: REAUTH_USER }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(NeedsReauthError);
      expect(failure).toMatchObject({ code: 'needs_reauth', status: 409 });
    });

    it('throws ProviderUnavailableError when the provider cannot be reached', async () => {
      const failure = await world.latchkey.credentials(DOWN).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ProviderUnavailableError);
      expect(failure).toMatchObject({ code: 'provider_unavailable', status: 503 });
      // The connection stays active: the background refresher keeps trying.
      expect((await world.latchkey.listConnections({ providerName: DOWN })).map((c) => [c.user_id, c.status])).toEqual([[null, 'active']]);
    });

    it('throws NotFoundError for an unknown provider, connection or portal id', async () => {
      const { latchkey } = world;
      for (const attempt of [
        () => latchkey.credentials('no-such-provider', { userId: world.activeUserId }),
        () => latchkey.credentials(PROVIDER, { userId: 'nobody' }),
        () => latchkey.connectionCredentials('conn_nonexistent'),
        () => latchkey.revokeConnection(PROVIDER, { userId: 'nobody' }),
      ]) {
        const failure = await attempt().catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(NotFoundError);
        expect(failure).toMatchObject({ code: 'not_found', status: 404 });
      }
    });

    it('lists connections, each filter applying only when given', async () => {
      const { latchkey, activeUserId, setup } = world;
      const all = await latchkey.listConnections();
      const acme = await latchkey.listConnections({ providerName: PROVIDER });
      expect(acme.map((c) => [c.user_id, c.status]).sort()).toEqual([
        [REAUTH_USER, 'needs_reauth'],
        [activeUserId, 'active'],
      ].sort());
      expect(all.length).toBeGreaterThanOrEqual(acme.length);
      const [mine] = await latchkey.listConnections({ userId: activeUserId });
      expect(mine).toMatchObject({
        id: expect.stringMatching(/^conn_/),
        provider_type: PROVIDER,
        provider_name: PROVIDER,
        user_id: activeUserId,
        app_id: null,
        status: 'active',
        scopes: ['read:projects'],
        created_at: expect.stringMatching(ISO),
        updated_at: expect.stringMatching(ISO),
        expires_at: expect.stringMatching(ISO),
      } satisfies Partial<Connection>);
      expect(JSON.stringify(all)).not.toContain(setup.client.client_secret);
      expect(await latchkey.listConnections({ userId: activeUserId, appId: 'no-such-app' })).toEqual([]);
    });

    it('registers providers idempotently by name and lists them without secrets', async () => {
      const { latchkey, setup } = world;
      const before = await latchkey.listProviders();
      const acmeBefore = before.find((p) => p.provider_name === PROVIDER)!;
      const again = await latchkey.registerProvider(registrationBody(setup));
      expect(again).toEqual({ success: true, provider_id: acmeBefore.provider_id, message: 'provider acme updated' });

      const providers = await latchkey.listProviders();
      expect(providers.map((p) => p.provider_name).sort()).toEqual([DOWN, PROVIDER].sort());
      expect(providers.find((p) => p.provider_name === PROVIDER)).toMatchObject({
        provider_id: acmeBefore.provider_id,
        app_id: null,
        grant_type: 'authorization_code',
        authorize_url: `${setup.provider.url}/oauth/authorize`,
        token_url: `${setup.provider.url}/oauth/token`,
        revoke_url: `${setup.provider.url}/oauth/revoke`,
        scopes: ['read:projects'],
        redirect_uri: `${setup.broker.url}/api/v1/credentials/auth/callback/${PROVIDER}`,
        created_at: acmeBefore.created_at,
      });
      expect(providers.find((p) => p.provider_name === DOWN)).toMatchObject({ grant_type: 'client_credentials', authorize_url: null, revoke_url: null });
      const listed = JSON.stringify(providers);
      expect(listed).not.toContain(setup.client.client_secret);
      expect(listed).not.toContain(world.downSecret);

      const invalid = await latchkey.registerProvider({ provider_name: 'Not A Name', client_id: 'x', client_secret: 'y' }).catch((e: unknown) => e);
      expect(invalid).toBeInstanceOf(InvalidRequestError);
    });

    it('creates a portal connection that is pending until the customer authorizes through its link', async () => {
      const { latchkey, setup } = world;
      const created = await latchkey.createConnection({ providerName: PROVIDER, userId: 'cust-portal' });
      expect(created).toMatchObject({ id: expect.stringMatching(/^conn_/), status: 'pending', provider_name: PROVIDER, user_id: 'cust-portal', app_id: null, oauth2RedirectUrl: null });
      const { authorizationURL } = await latchkey.authorizationUrl(created.id);
      expect(authorizationURL).toMatch(new RegExp(`^${setup.broker.url}/connect/[A-Za-z0-9_-]+$`));
      const pending = await latchkey.connectionCredentials(created.id).catch((e: unknown) => e);
      expect(pending).toBeInstanceOf(PendingError);
      expect(pending).toMatchObject({ code: 'pending', status: 409 });

      await authorizeThroughLink(setup, authorizationURL, world.carol);
      const creds = await latchkey.connectionCredentials(created.id);
      expect(creds.connection_id).toBe(created.id);
      expect(await introspectAtProvider(setup, creds.access_token)).toMatchObject({ active: true, sub: world.carol.id });
      expect(await latchkey.credentials(PROVIDER, { userId: 'cust-portal' })).toMatchObject({ connection_id: created.id });
      expect((await latchkey.getConnection(created.id)).status).toBe('active');
    });

    it('revokes a connection at the provider and tells a webhook, signed', async () => {
      const { latchkey, setup } = world;
      const receiver = await startReceiver();
      try {
        const webhook = await latchkey.createWebhook({ url: receiver.url, events: ['connection.revoked'] });
        expect(webhook).toEqual({ id: expect.stringMatching(/^whk_/), url: receiver.url, events: ['connection.revoked'], secret: expect.any(String), created_at: expect.stringMatching(ISO) });
        const listed = await latchkey.listWebhooks();
        expect(listed).toContainEqual({ id: webhook.id, url: receiver.url, events: ['connection.revoked'], created_at: webhook.created_at });
        expect(JSON.stringify(listed)).not.toContain(webhook.secret);

        const creds = await latchkey.credentials(PROVIDER, { userId: 'cust-portal' });
        expect(await latchkey.revokeConnection(PROVIDER, { userId: 'cust-portal' })).toEqual({ success: true, message: expect.any(String), provider_revoked: true });
        expect(await introspectAtProvider(setup, creds.access_token)).toEqual({ active: false });
        expect(await latchkey.listConnections({ userId: 'cust-portal' })).toEqual([]);
        await expect(latchkey.revokeConnection(PROVIDER, { userId: 'cust-portal' })).rejects.toBeInstanceOf(NotFoundError);

        const delivered = await until(10_000, async () => {
          const [delivery] = await latchkey.webhookDeliveries(webhook.id);
          return delivery?.status === 'delivered' ? delivery : undefined;
        });
        expect(receiver.received).toHaveLength(1);
        const { headers, body } = receiver.received[0]!;
        expect(verifyWebhookSignature({ payload: body, header: headers['latchkey-signature'] as string, secret: webhook.secret })).toBe(true);
        expect(verifyWebhookSignature({ payload: body, header: headers['latchkey-signature'] as string, secret: `${webhook.secret}x` })).toBe(false);
        const event = JSON.parse(body) as WebhookEvent;
        expect(event).toMatchObject({ type: 'connection.revoked', created_at: expect.stringMatching(ISO), data: { connection: { id: creds.connection_id, user_id: 'cust-portal' } } });
        expect(delivered).toMatchObject({ event_id: event.id, type: 'connection.revoked', attempts: 1, last_status_code: 200, last_error: null, delivered_at: expect.stringMatching(ISO) });

        expect(await latchkey.deleteWebhook(webhook.id)).toEqual({ success: true, message: expect.any(String) });
        expect((await latchkey.listWebhooks()).map((w) => w.id)).not.toContain(webhook.id);
        await expect(latchkey.webhookDeliveries(webhook.id)).rejects.toBeInstanceOf(NotFoundError);
        await expect(latchkey.deleteWebhook(webhook.id)).rejects.toBeInstanceOf(NotFoundError);
      } finally {
        await receiver.close();
      }
    });
  });

  it('passes the Python client suite', async () => {
    const { setup, activeUserId } = world;
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'python3',
        ['-m', 'unittest', 'discover', '-s', 'tests', '-v'],
        {
          cwd: PYTHON_DIR,
          timeout: 60_000,
          env: {
            ...process.env,
            PYTHONPATH: PYTHON_DIR,
            PYTHONDONTWRITEBYTECODE: '1',
            LATCHKEY_URL: setup.broker.url,
            LATCHKEY_API_KEY: setup.brokerFixture.apiKey,
            LATCHKEY_ACTIVE_PROVIDER: PROVIDER,
            LATCHKEY_ACTIVE_USER_ID: activeUserId,
            LATCHKEY_REAUTH_PROVIDER: PROVIDER,
            LATCHKEY_REAUTH_USER_ID: REAUTH_USER,
            LATCHKEY_DOWN_PROVIDER: DOWN,
          },
        },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result.code, result.stderr).toBe(0);
    const ran = /^Ran (\d+) tests? in /m.exec(result.stderr);
    expect(Number(ran?.[1])).toBeGreaterThan(0);
    expect(result.stderr).toMatch(/^OK$/m);
    // The integration tests ran against this broker, each passing (not skipped).
    const integration = result.stderr.split('\n').filter((line) => line.includes('BrokerIntegrationTest'));
    expect(integration.length).toBeGreaterThanOrEqual(7);
    for (const line of integration) expect(line).toMatch(/\.\.\. ok$/);
  }, 90_000);
});
