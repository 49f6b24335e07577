import pino from 'pino';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/admin/api-keys.js';
import { createClient } from '../../src/admin/clients.js';
import { createUser } from '../../src/admin/users.js';
import { openToken } from '../../src/broker/token-state.js';
import { resolveConfig } from '../../src/config.js';
import { MasterKeyRing } from '../../src/crypto/seal.js';
import { openContext } from '../../src/runtime/open.js';
import type { ServerContext } from '../../src/server/context.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { openStore } from '../../src/store/open.js';
import { SEALED_COLUMNS, sealContext } from '../../src/store/sealed-columns.js';
import type { Store } from '../../src/store/store.js';
import { api, PROVIDER, startBrokerAndProvider, type BrokerSetup } from '../helpers/broker.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { requireBuiltCli, runCli, startServeProcess, type ServeProcess } from '../helpers/cli-process.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { seed, startTestServer, type TestServer } from '../helpers/server.js';
import { connectThroughProxy, TokenProxy, useProxiedBroker } from '../helpers/token-proxy.js';
import { authorization, issueFor } from '../store/fixtures.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Puts the connection inside its refresh margin now, as if its token's lifetime had run on (and, with
 * `expired`, past its end), so tests need not wait out a real lifetime.
 */
async function makeDue(store: Store, connectionId: string, expired = false): Promise<void> {
  const now = Date.now();
  await store.connections.update(connectionId, { refreshAt: now - 1, ...(expired && { expiresAt: now - 1 }) });
}

interface Credentials {
  access_token: string;
}

function credentials(setup: BrokerSetup): Promise<Response> {
  return api(setup, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${setup.brokerFixture.user.id}`);
}

/** Polls `check` every 50 ms until it holds; fails after `limitMs`. */
async function eventually(check: () => Promise<boolean> | boolean, what: string, limitMs = 20_000): Promise<void> {
  for (let waited = 0; waited < limitMs; waited += 50) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(DATABASE_KINDS)('refresh under concurrency (%s)', (kind) => {
  describe('one process', () => {
    // No background refresher in the way: every refresh here is asked for.
    const world = useProxiedBroker(kind, (c) => void (c.broker.refreshIntervalMs = 3600_000));

    it('refreshes once at the provider for 20 concurrent requests, and all of them get the new token', async () => {
      const before = (await (await credentials(world.setup)).json()) as Credentials;
      await makeDue(world.setup.broker.ctx.store, world.connectionId);
      const refreshesBefore = world.proxy.refreshes().length;

      const responses = await Promise.all(Array.from({ length: 20 }, () => credentials(world.setup)));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as Credentials[];

      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(world.proxy.refreshes().length - refreshesBefore).toBe(1);
      const issued = world.proxy.refreshes().at(-1)!.body!.access_token;
      expect(issued).not.toBe(before.access_token);
      expect(new Set(bodies.map((b) => b.access_token))).toEqual(new Set([issued]));
    });
  });

  describe('a refresh that outlives its lock', () => {
    const world = useProxiedBroker(kind, (c) => {
      c.broker.refreshIntervalMs = 3600_000;
      c.broker.refreshLockMs = 300;
    });

    it('is refused its write, and the newer value written by the lock’s next holder stays', async () => {
      const { ctx } = world.setup.broker;
      const lockName = `refresh:${world.connectionId}`;
      await makeDue(ctx.store, world.connectionId);
      // The provider answers, but the answer reaches the broker only after its lease (300 ms) is long over.
      world.proxy.hold();
      const slow = credentials(world.setup);
      await eventually(() => world.proxy.refreshes()[0]?.body !== undefined, 'the provider to answer the refresh');

      // The broker's renewals keep its lease alive; a stalled process would not renew, so the stall is
      // played by expiring the lease in the database, after which another owner takes the lock over.
      const db = (ctx.store as KyselyStore).db;
      let intruder;
      for (let attempt = 0; attempt < 50 && !intruder; attempt++) {
        await db.updateTable('locks').set({ expires_at: 0 }).where('name', '=', lockName).execute();
        intruder = await ctx.store.locks.acquire(lockName, 'intruder', 60_000);
      }
      expect(intruder, 'the intruder should have taken the lock over').toBeDefined();
      // The new holder writes a newer token, as its own refresh would.
      const now = Date.now();
      await ctx.store.connections.update(world.connectionId, {
        accessTokenSealed: ctx.masterKeys.seal('newer-access-token', sealContext('connections.access_token_sealed', world.connectionId)),
        expiresAt: now + 3600_000,
        refreshAt: now + 3000_000,
        updatedAt: now,
      });

      world.proxy.release();
      const response = await slow;
      const body = (await response.json()) as Credentials;
      const slowAnswer = world.proxy.refreshes()[0]!.body!;
      expect(slowAnswer.access_token).toEqual(expect.any(String));

      const stored = (await ctx.store.connections.get(world.connectionId))!;
      expect(openToken(ctx, stored, 'access')).toBe('newer-access-token');
      expect(openToken(ctx, stored, 'refresh')).not.toBe(slowAnswer.refresh_token);
      expect(world.setup.broker.logs()).toContain('refresh outlived its lock');
      expect(response.status).toBe(200);
      expect(body.access_token).toBe('newer-access-token');
      await ctx.store.locks.release(intruder!);
    });
  });

  describe('provider outage', () => {
    const world = useProxiedBroker(kind, (c) => {
      c.broker.refreshIntervalMs = 200;
      c.broker.retryBaseMs = 200;
      c.broker.credentialWaitMs = 1000;
    });

    it('hands out the current token while the provider is down and the token has not expired', async () => {
      const current = (await (await credentials(world.setup)).json()) as Credentials;
      world.proxy.mode = 'down';
      await makeDue(world.setup.broker.ctx.store, world.connectionId);
      const attempts = world.proxy.refreshes().length;

      const response = await credentials(world.setup);

      expect(response.status).toBe(200);
      expect(((await response.json()) as Credentials).access_token).toBe(current.access_token);
      expect(world.proxy.refreshes().length).toBeGreaterThan(attempts);
      world.proxy.mode = 'up';
      // Let the background refresher bring it back before the next test takes the provider down.
      await eventually(async () => (await world.setup.broker.ctx.store.connections.get(world.connectionId))!.failureCount === 0, 'the connection to recover');
    });

    it('answers 503 once the token expired, keeps the connection active with a backoff, and recovers in the background', async () => {
      const { store } = world.setup.broker.ctx;
      world.proxy.mode = 'hang';
      await makeDue(store, world.connectionId, true);

      const response = await credentials(world.setup);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: 'provider_unavailable' });
      // The caller was answered within its wait budget, while the provider still had not answered.
      expect(world.proxy.heldCount).toBeGreaterThan(0);

      world.proxy.mode = 'down';
      world.proxy.answerHeld(503);
      await eventually(async () => (await store.connections.get(world.connectionId))!.failureCount > 0, 'the failure to be recorded');
      const failing = (await store.connections.get(world.connectionId))!;
      expect(failing.status).toBe('active');
      expect(failing.nextAttemptAt).toBeGreaterThan(failing.updatedAt);
      const listed = (await (await api(world.setup, '/api/v1/credentials/oauth/connections')).json()) as { id: string; status: string }[];
      expect(listed.find((c) => c.id === world.connectionId)?.status).toBe('active');

      world.proxy.mode = 'up';
      await eventually(async () => (await store.connections.get(world.connectionId))!.failureCount === 0, 'the background refresher to recover the connection');
      const recovered = (await store.connections.get(world.connectionId))!;
      expect(recovered.nextAttemptAt).toBeNull();
      const issued = world.proxy.refreshes().filter((e) => e.status === 200).at(-1)!.body!.access_token;
      expect(openToken(world.setup.broker.ctx, recovered, 'access')).toBe(issued);

      const refreshes = world.proxy.refreshes().length;
      const after = await credentials(world.setup);
      expect(after.status).toBe(200);
      expect(((await after.json()) as Credentials).access_token).toBe(issued);
      expect(world.proxy.refreshes().length).toBe(refreshes);
    }, 60_000);
  });
});

describe.each(DATABASE_KINDS)('lock leases (%s)', (kind) => {
  let db: TestDatabase;
  let store: KyselyStore;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    store = await openStore(db.url);
  });
  afterAll(async () => {
    await store?.close();
    await db?.drop();
  });

  it('fences a lapsed lease out once another owner takes the lock', async () => {
    const old = (await store.locks.acquire('refresh:x', 'first', 50))!;
    expect(old).toMatchObject({ name: 'refresh:x', owner: 'first' });
    await sleep(100);
    const taken = (await store.locks.acquire('refresh:x', 'second', 60_000))!;
    expect(taken.owner).toBe('second');
    expect(taken.fence).toBeGreaterThan(old.fence);

    expect(await store.locks.isHeld(old)).toBe(false);
    expect(await store.locks.renew(old, 60_000)).toBe(false);
    await store.locks.release(old);
    expect(await store.locks.isHeld(taken)).toBe(true);
    expect(await store.locks.acquire('refresh:x', 'third', 60_000)).toBeUndefined();
  });
});

describe('refresh across two server processes on one PostgreSQL database', () => {
  const masterKey = MasterKeyRing.generateText();
  const children: ServeProcess[] = [];
  let db: TestDatabase;
  let provider: TestServer;
  let proxy: TokenProxy;
  let ctx: ServerContext;
  beforeAll(async () => {
    requireBuiltCli();
    db = await createTestDatabase('postgres');
    provider = await startTestServer('sqlite', { issuerHost: '127.0.0.1', logLevel: 'warn' });
    proxy = await TokenProxy.start(provider.url);
    // One after the other: the first applies the migrations.
    for (let i = 0; i < 2; i++) {
      children.push(await startServeProcess(['--database-url', db.url, '--log-level', 'warn'], { LATCHKEY_MASTER_KEY: masterKey }));
    }
    ctx = await openContext(resolveConfig({ databaseUrl: db.url }, { LATCHKEY_MASTER_KEY: masterKey }, 1), pino({ level: 'silent' }), { ensureSigningKey: false });
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await ctx?.store.close();
    await proxy?.close();
    await provider?.stop();
    await db?.drop();
  });

  it('refreshes once at the provider for 10 requests at each process, and all 20 get the new token', async () => {
    const [first, second] = children as [ServeProcess, ServeProcess];
    const providerFixture = await seed(provider);
    const client = await createClient(provider.ctx, {
      name: 'Broker',
      redirectUris: [`${first.url}/api/v1/credentials/auth/callback/${PROVIDER}`],
      grantTypes: ['authorization_code', 'refresh_token'],
      scopes: ['read:projects'],
      isPublic: false,
    });
    const password = 'correct horse battery';
    const alice = await createUser(ctx, { username: 'alice', password, isAdmin: false });
    const { key } = await createApiKey(ctx, { name: 'tests' });
    const call = (base: string, path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });

    const registered = await call(first.url, '/api/v1/credentials/oauth/register', {
      method: 'POST',
      body: JSON.stringify({
        provider_name: PROVIDER,
        client_id: client.client_id,
        client_secret: client.client_secret,
        token_data: { authorize_url: `${provider.url}/oauth/authorize`, token_url: proxy.tokenUrl, scopes: ['read:projects'] },
      }),
    });
    expect(registered.status, await registered.clone().text()).toBe(201);

    const atBroker = new BrowserAgent(first.url);
    const login = await (await atBroker.get('/login')).text();
    expect((await atBroker.submitForm(login, '/login', { username: 'alice', password })).status).toBe(303);
    const start = await atBroker.get(`/api/v1/credentials/auth/${PROVIDER}?return_to=/done`);
    expect(start.status).toBe(302);
    const callback = await new BrowserAgent(provider.url).authorize(new URL(start.headers.get('location')!), providerFixture.user);
    expect((await atBroker.get(callback.pathname + callback.search)).status).toBe(302);

    const path = `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${alice.id}`;
    const before = (await (await call(second.url, path)).json()) as Credentials;
    const connection = (await ctx.store.connections.find(PROVIDER, alice.id, null))!;
    await makeDue(ctx.store, connection.id);
    const refreshesBefore = proxy.refreshes().length;

    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 === 0 ? first.url : second.url, path)));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as Credentials[];

    expect(responses.map((r) => r.status), JSON.stringify(bodies)).toEqual(Array(20).fill(200));
    expect(proxy.refreshes().length - refreshesBefore).toBe(1);
    const issued = proxy.refreshes().at(-1)!.body!.access_token;
    expect(issued).not.toBe(before.access_token);
    expect(new Set(bodies.map((b) => b.access_token))).toEqual(new Set([issued]));
  }, 60_000);
});

/** Every sealed value in the database, by column. */
async function sealedValues(store: Store): Promise<[string, string][]> {
  const found: [string, string][] = [];
  for (const [name, { table, column }] of Object.entries(SEALED_COLUMNS)) {
    const rows = await sql<{ v: string }>`select ${sql.ref(column)} as v from ${sql.table(table)} where ${sql.ref(column)} is not null`.execute((store as KyselyStore).db);
    for (const row of rows.rows) found.push([name, row.v]);
  }
  return found;
}

/**
 * A database whose values are all sealed under master key k1 (a connection with its tokens, a
 * provider secret, a webhook secret, a portal link, a PKCE verifier, the signing key), and servers
 * started on it with other key rings. The provider's token endpoint is behind `proxy`.
 */
class RotationFixture {
  readonly k1 = `k1:${MasterKeyRing.generateText()}`;
  readonly k2 = `k2:${MasterKeyRing.generateText()}`;
  db!: TestDatabase;
  setup!: BrokerSetup;
  proxy!: TokenProxy;
  connectionId!: string;
  private readonly servers: TestServer[] = [];

  constructor(readonly kind: 'sqlite' | 'postgres') {}

  async start(options: { nonRotating: boolean }): Promise<void> {
    this.db = await createTestDatabase(this.kind);
    this.setup = await startBrokerAndProvider(this.kind, { broker: { db: this.db, masterKey: this.k1 } });
    this.servers.push(this.setup.broker);
    this.proxy = await TokenProxy.start(this.setup.provider.url);
    this.proxy.nonRotating = options.nonRotating;
    ({ connectionId: this.connectionId } = await connectThroughProxy(this.setup, this.proxy));
    const call = (path: string, body: unknown) => api(this.setup, path, { method: 'POST', body: JSON.stringify(body) });
    expect((await call('/api/v1/webhooks', { url: 'http://127.0.0.1:9/hook' })).status).toBe(201);
    const portal = await call('/api/v1/connections', { provider_name: PROVIDER, user_id: 'customer-1' });
    expect(portal.status).toBe(201);
    expect((await api(this.setup, `/api/v1/connections/${((await portal.json()) as { id: string }).id}/oauth2`)).status).toBe(200);
    await this.storeRefreshReissue(this.setup.broker);
    await this.stopServer(this.setup.broker);
  }

  /** A refresh token of the broker's own authorization server holding a sealed reissue, as the grace window leaves one. */
  private async storeRefreshReissue(server: TestServer): Promise<void> {
    const { code, grant } = authorization();
    const issue = issueFor(grant);
    issue.refreshToken!.reissueSealed = server.ctx.masterKeys.seal('{"access_token":"x"}', sealContext('refresh_tokens.reissue_sealed', issue.refreshToken!.tokenHash));
    await server.ctx.store.tokens.insertCode(code);
    await server.ctx.store.tokens.redeemCode(code.codeHash, Date.now(), grant, issue);
  }

  /** A broker on the database with the master key ring `masterKey`. */
  async serve(masterKey: string): Promise<TestServer> {
    const server = await startTestServer(this.kind, {
      db: this.db,
      masterKey,
      configure: (c) => {
        c.broker.refreshIntervalMs = 3600_000;
        c.broker.credentialWaitMs = 20_000;
      },
    });
    this.servers.push(server);
    return server;
  }

  async stopServer(server: TestServer): Promise<void> {
    this.servers.splice(this.servers.indexOf(server), 1);
    await server.close();
  }

  credentials(server: TestServer): Promise<Response> {
    return fetch(`${server.url}/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${this.setup.brokerFixture.user.id}`, {
      headers: { authorization: `Bearer ${this.setup.brokerFixture.apiKey}` },
    });
  }

  rotate(): Promise<{ code: number; stdout: string; stderr: string }> {
    return runCli(['secrets', 'rotate', '--database-url', this.db.url, '--json'], { LATCHKEY_MASTER_KEY: `${this.k1},${this.k2}` });
  }

  /** With only k2 configured, the connection still refreshes: the provider secret and refresh token open. */
  async expectRefreshWithK2Only(): Promise<void> {
    const server = await this.serve(this.k2);
    await makeDue(server.ctx.store, this.connectionId);
    const refreshes = this.proxy.refreshes().length;
    const response = await this.credentials(server);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(this.proxy.refreshes().length).toBe(refreshes + 1);
    expect(((await response.json()) as Credentials).access_token).toBe(this.proxy.refreshes().at(-1)!.body!.access_token);
  }

  async stop(): Promise<void> {
    for (const server of this.servers) await server.close();
    await this.proxy?.close();
    await this.setup?.provider.stop();
    await this.db?.drop();
  }
}

describe.each(DATABASE_KINDS)('latchkey secrets rotate beside a running broker (%s)', (kind) => {
  let fixture: RotationFixture;
  afterEach(async () => fixture?.stop());

  it('re-seals every value under the newest key while credentials are fetched and refreshed in a loop', async () => {
    fixture = new RotationFixture(kind);
    await fixture.start({ nonRotating: false });
    const { proxy, connectionId } = fixture;
    const server = await fixture.serve(`${fixture.k1},${fixture.k2}`);
    const before = await sealedValues(server.ctx.store);
    expect(new Set(before.map(([name]) => name))).toEqual(new Set(Object.keys(SEALED_COLUMNS)));
    expect(before.every(([, v]) => v.startsWith('v1.k1.'))).toBe(true);

    let rotating = true;
    const statuses: number[] = [];
    const refreshesBefore = proxy.refreshes().length;
    const load = (async () => {
      for (let i = 0; i < 2000 && rotating; i++) {
        await makeDue(server.ctx.store, connectionId);
        const response = await fixture.credentials(server);
        statuses.push(response.status);
        await response.body?.cancel();
      }
    })();
    const rotation = await fixture.rotate();
    rotating = false;
    await load;

    expect(rotation.code, rotation.stderr).toBe(0);
    expect(JSON.parse(rotation.stdout)).toMatchObject({ master_key_id: 'k2' });
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(proxy.refreshes().length).toBeGreaterThan(refreshesBefore);
    expect((await sealedValues(server.ctx.store)).filter(([, v]) => !v.startsWith('v1.k2.'))).toEqual([]);

    await fixture.stopServer(server);
    await fixture.expectRefreshWithK2Only();
  }, 60_000);

  it('leaves nothing under the old key when a refresh that keeps the refresh token was in flight during the rotation', async () => {
    fixture = new RotationFixture(kind);
    await fixture.start({ nonRotating: true });
    const { proxy, connectionId } = fixture;
    const server = await fixture.serve(`${fixture.k1},${fixture.k2}`);
    await makeDue(server.ctx.store, connectionId);
    const refreshes = proxy.refreshes().length;
    // The broker read the connection (sealed under k1) and waits for the provider while the rotation runs.
    proxy.hold();
    const pending = fixture.credentials(server);
    await eventually(() => proxy.refreshes()[refreshes]?.body !== undefined, 'the provider to answer the refresh');

    const rotation = await fixture.rotate();
    proxy.release();
    const response = await pending;

    expect(rotation.code, rotation.stderr).toBe(0);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(proxy.refreshes()[refreshes]!.body).not.toHaveProperty('refresh_token');
    expect((await sealedValues(server.ctx.store)).filter(([, v]) => !v.startsWith('v1.k2.'))).toEqual([]);

    await fixture.stopServer(server);
    await fixture.expectRefreshWithK2Only();
  }, 60_000);
});
