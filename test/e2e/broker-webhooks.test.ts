import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openToken } from '../../src/broker/token-state.js';
import type { Config } from '../../src/config.js';
import { verifyWebhookSignature } from '../../src/sdk/webhook-signature.js';
import { api, PROVIDER, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { startTestServer } from '../helpers/server.js';

/**
 * Webhooks end to end: a real receiver (node:http) records what the broker sends as connections are
 * made, fail to refresh, are made again and are revoked; deliveries are signed, retried with
 * growing gaps, filtered by event, survive a restart of the broker, and are managed from the CLI.
 */

/** The built CLI (npm test builds first). */
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Short clocks: retries 200 ms, 400 ms, …; the outbox looked at every 100 ms. */
const timings = (c: Config) => {
  c.broker.retryBaseMs = 200;
  c.broker.webhookIntervalMs = 100;
};

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received, for the signature. */
  raw: string;
  body: { id: string; type: string; created_at: string; data: { connection: Record<string, unknown> } };
  at: number;
}

/**
 * A webhook receiver on 127.0.0.1 recording every request. `answer` picks the status of each one
 * (by path and how many that path has had) and may hold it back until a test lets it go.
 */
class Receiver {
  readonly received: Received[] = [];
  answer: (path: string, count: number) => number | Promise<number> = () => 200;
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, raw, body: JSON.parse(raw) as Received['body'], at: Date.now() });
        void Promise.resolve(this.answer(path, this.at(path).length)).then((status) => res.writeHead(status).end());
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Waits (bounded) until `path` has had a request of event `type`, and returns it. */
  async next(path: string, type: string, ms = 10_000): Promise<Received> {
    return until(ms, () => this.at(path).find((r) => r.body.type === type), `${type} at ${path}`);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls `check` every 50 ms until it gives a value, for at most `ms`. */
async function until<T>(ms: number, check: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function latchkeyCli(setup: BrokerSetup, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--database-url', setup.broker.db.url, '--json'],
      { env: { ...process.env, LATCHKEY_MASTER_KEY: setup.broker.masterKey }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function cli<T>(setup: BrokerSetup, args: string[]): Promise<T> {
  const result = await latchkeyCli(setup, args);
  expect(result.code, result.stderr + result.stdout).toBe(0);
  return JSON.parse(result.stdout) as T;
}

interface Webhook {
  id: string;
  url: string;
  events: string[];
  secret?: string;
}

interface Delivery {
  id: string;
  event_id: string;
  type: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

describe.each(DATABASE_KINDS)('webhooks (%s)', (kind) => {
  let db: TestDatabase;
  let setup: BrokerSetup;
  const receiver = new Receiver();
  /** The catch-all webhook and its secret. */
  let all: Webhook;
  let connectionId: string;

  const userId = () => setup.brokerFixture.user.id;
  const credentials = () => api(setup, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${userId()}`);
  const revoke = () =>
    fetch(`${setup.broker.url}/api/v1/credentials/oauth/connections/${PROVIDER}?user_id=${userId()}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${setup.brokerFixture.apiKey}` },
    });
  const createWebhook = async (body: Record<string, unknown>): Promise<Webhook> => {
    const response = await api(setup, '/api/v1/webhooks', { method: 'POST', body: JSON.stringify(body) });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as Webhook;
  };
  const deliveries = async (webhookId: string): Promise<Delivery[]> => (await (await api(setup, `/api/v1/webhooks/${webhookId}/deliveries`)).json()) as Delivery[];
  const connect = async () => {
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
    expect((await browser.connect()).status).toBe(302);
  };
  const verifies = (r: Received, secret: string, payload = r.raw) => verifyWebhookSignature({ payload, header: r.headers['latchkey-signature'] as string | undefined, secret });

  beforeAll(async () => {
    db = await createTestDatabase(kind);
    setup = await startBrokerAndProvider(kind, { accessTokenTtlSeconds: 2, broker: { db, logLevel: 'warn', configure: timings } });
    expect((await registerProvider(setup)).status).toBe(201);
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
    await stopAll(setup);
    await db?.drop();
  });

  it('creates webhooks whose secret is shown once', async () => {
    all = await createWebhook({ url: receiver.url('/all') });
    expect(all).toMatchObject({ url: receiver.url('/all'), events: ['connection.created', 'connection.reauthorized', 'connection.refresh_failed', 'connection.revoked'] });
    expect(all.secret).toEqual(expect.any(String));

    const listed = await (await api(setup, '/api/v1/webhooks')).text();
    expect(JSON.parse(listed)).toEqual([expect.objectContaining({ id: all.id, url: all.url })]);
    expect(listed).not.toContain(all.secret!);
    expect(listed).not.toContain('secret');

    const refused = await api(setup, '/api/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: 'http://example.com/hook' }) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('sends created, refresh_failed, reauthorized and revoked, signed and without tokens, each only where wanted', async () => {
    const revokedOnly = await createWebhook({ url: receiver.url('/revoked-only'), events: ['connection.revoked'], secret: 'a-chosen-secret-of-some-length' });
    expect(revokedOnly.events).toEqual(['connection.revoked']);

    await connect();
    const created = await receiver.next('/all', 'connection.created');
    expect(Object.keys(created.body).sort()).toEqual(['created_at', 'data', 'id', 'type']);
    expect(created.body.data.connection).toMatchObject({ provider_name: PROVIDER, user_id: userId(), status: 'active' });
    expect(Date.parse(created.body.created_at)).not.toBeNaN();
    connectionId = created.body.data.connection.id as string;
    expect(created.headers['content-type']).toMatch(/^application\/json/);
    expect(verifies(created, all.secret!)).toBe(true);
    expect(verifies(created, all.secret!, created.raw.replace('"active"', '"pending"'))).toBe(false);
    expect(verifies(created, 'whsec_some-other-secret-entirely')).toBe(false);

    // No token of the connection is in any delivery.
    const stored = (await setup.broker.ctx.store.connections.get(connectionId))!;
    const refreshToken = openToken(setup.broker.ctx, stored, 'refresh')!;
    const accessToken = openToken(setup.broker.ctx, stored, 'access')!;
    expect(created.raw).not.toContain(accessToken);
    expect(created.raw).not.toContain(refreshToken);
    expect(created.raw).not.toMatch(/access_token|refresh_token/);

    // The provider forgets the refresh token: the next refresh (1 s into the token's 2 s) gets invalid_grant.
    const revokedAtProvider = await fetch(`${setup.provider.url}/oauth/revoke`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${setup.client.client_id}:${setup.client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
    });
    expect(revokedAtProvider.status).toBe(200);
    await until(10_000, async () => ((await credentials()).status === 409 ? true : undefined), 'credentials answering 409');
    const failed = await receiver.next('/all', 'connection.refresh_failed');
    expect(failed.body.data.connection).toMatchObject({ id: connectionId, status: 'needs_reauth' });
    expect(verifies(failed, all.secret!)).toBe(true);

    await connect();
    const reauthorized = await receiver.next('/all', 'connection.reauthorized');
    expect(reauthorized.body.data.connection).toMatchObject({ id: connectionId, status: 'active' });

    expect((await revoke()).status).toBe(200);
    const revoked = await receiver.next('/all', 'connection.revoked');
    expect(revoked.body.data.connection).toMatchObject({ id: connectionId });
    const revokedThere = await receiver.next('/revoked-only', 'connection.revoked');
    expect(verifies(revokedThere, 'a-chosen-secret-of-some-length')).toBe(true);
    expect(revokedThere.body.id).toBe(revoked.body.id);

    for (const r of receiver.received) {
      expect(r.raw).not.toContain(accessToken);
      expect(r.raw).not.toMatch(/access_token|refresh_token/);
    }
    expect(receiver.at('/all').map((r) => r.body.type)).toEqual(['connection.created', 'connection.refresh_failed', 'connection.reauthorized', 'connection.revoked']);
    expect(new Set(receiver.at('/all').map((r) => r.body.id)).size).toBe(4);
    expect(receiver.at('/revoked-only').map((r) => r.body.type)).toEqual(['connection.revoked']);
    expect((await deliveries(revokedOnly.id)).map((d) => d.type)).toEqual(['connection.revoked']);
    const log = await deliveries(all.id);
    expect(log).toHaveLength(4);
    for (const d of log) expect(d).toMatchObject({ status: 'delivered', attempts: 1, last_status_code: 200 });
  });

  it('retries a failing receiver with growing gaps until it answers 2xx', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<number>((resolve) => (release = () => resolve(200)));
    // 500, 500, then a 200 held back until the log has been read.
    receiver.answer = (path, count) => (path !== '/flaky' ? 200 : count <= 2 ? 500 : released);
    const flaky = await createWebhook({ url: receiver.url('/flaky'), events: ['connection.created'] });

    await connect();
    await until(10_000, () => (receiver.at('/flaky').length === 3 ? true : undefined), 'three attempts');
    const [pending] = await deliveries(flaky.id);
    expect(pending).toMatchObject({ type: 'connection.created', status: 'pending', attempts: 2, last_status_code: 500, delivered_at: null });
    expect(pending!.last_error).toContain('500');
    expect(pending!.next_attempt_at).not.toBeNull();
    release();

    const delivered = await until(10_000, async () => (await deliveries(flaky.id)).find((d) => d.status === 'delivered'), 'the delivery delivered');
    expect(delivered).toMatchObject({ attempts: 3, last_status_code: 200, last_error: null });
    expect(delivered.delivered_at).not.toBeNull();

    const attempts = receiver.at('/flaky');
    expect(new Set(attempts.map((a) => a.body.id)).size).toBe(1);
    expect(new Set(attempts.map((a) => a.raw)).size).toBe(1);
    for (const a of attempts) expect(verifies(a, flaky.secret!)).toBe(true);
    // Each wait is at least its backoff: 200 ms, then 400 ms.
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(200);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(400);
    receiver.answer = () => 200;
  });

  it('is managed from the CLI: create, list, deliveries, delete', async () => {
    const created = await cli<Webhook>(setup, ['webhooks', 'create', '--url', receiver.url('/cli'), '--event', 'connection.revoked']);
    expect(created).toMatchObject({ url: receiver.url('/cli'), events: ['connection.revoked'] });
    expect(created.secret).toEqual(expect.any(String));

    const listed = await latchkeyCli(setup, ['webhooks', 'list']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as Webhook[]).map((w) => w.id)).toContain(created.id);
    expect(listed.stdout).not.toContain(created.secret!);

    // The running server sends to a webhook the CLI made.
    expect((await revoke()).status).toBe(200);
    const received = await receiver.next('/cli', 'connection.revoked');
    expect(verifies(received, created.secret!)).toBe(true);
    await until(10_000, async () => (await deliveries(created.id)).find((d) => d.status === 'delivered'), 'the delivery delivered');
    const log = await cli<Delivery[]>(setup, ['webhooks', 'deliveries', created.id]);
    expect(log).toEqual([expect.objectContaining({ event_id: received.body.id, type: 'connection.revoked', attempts: 1, last_status_code: 200 })]);

    expect(await cli(setup, ['webhooks', 'delete', created.id])).toMatchObject({ success: true });
    expect((await cli<Webhook[]>(setup, ['webhooks', 'list'])).map((w) => w.id)).not.toContain(created.id);
    const gone = await latchkeyCli(setup, ['webhooks', 'deliveries', created.id]);
    expect(gone.code).not.toBe(0);
  });

  it('delivers an event recorded while the receiver was down, from a restarted broker', async () => {
    await connect();
    // A port with nothing on it, for now.
    const late = new Receiver();
    await late.start();
    const port = late.port;
    await late.stop();
    const hook = await createWebhook({ url: `http://127.0.0.1:${port}/late`, events: ['connection.revoked'] });

    expect((await revoke()).status).toBe(200);
    const failing = await until(10_000, async () => (await deliveries(hook.id)).find((d) => d.attempts >= 1), 'a failed attempt');
    expect(failing).toMatchObject({ type: 'connection.revoked', status: 'pending', last_status_code: null });

    // A new process on the same database and master key takes over the outbox.
    const previous = setup.broker;
    await previous.stop();
    setup.broker = await startTestServer(kind, { db, masterKey: previous.masterKey, logLevel: 'warn', configure: timings });
    await late.start(port);
    try {
      const received = await late.next('/late', 'connection.revoked', 15_000);
      expect(verifies(received, hook.secret!)).toBe(true);
      expect(received.body.id).toBe(failing.event_id);
      const delivered = await until(10_000, async () => (await deliveries(hook.id)).find((d) => d.status === 'delivered'), 'the delivery delivered');
      expect(delivered.attempts).toBeGreaterThanOrEqual(2);
      expect(delivered.last_status_code).toBe(200);
    } finally {
      await late.stop();
    }
  });
});
