import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { basic, postForm, seedDatabase, startLatchkey, stopAllLatchkeys, type FormAnswer, type LatchkeyProcess, type ProcessFixture } from '../helpers/process-server.js';

/**
 * The failed-authentication limits are kept in the database, so two `latchkey serve` processes on one
 * PostgreSQL database enforce them together: failures at either count toward one limit, and once it
 * is reached both answer 429 (RFC 6585) with Retry-After and `temporarily_unavailable`, even to the
 * right credentials.
 */

const WINDOW_S = 60;

/** Starts two processes on a fresh PostgreSQL database (one after the other: the first migrates). */
async function twoProcesses(dbs: TestDatabase[], limits: { client: number; address: number }): Promise<{ fixture: ProcessFixture; a: LatchkeyProcess; b: LatchkeyProcess }> {
  const db = await createTestDatabase('postgres');
  dbs.push(db);
  const fixture = await seedDatabase(db.url);
  const env = {
    LATCHKEY_MASTER_KEY: fixture.masterKey,
    LATCHKEY_RATE_LIMIT_CLIENT: String(limits.client),
    LATCHKEY_RATE_LIMIT_ADDRESS: String(limits.address),
    LATCHKEY_RATE_LIMIT_WINDOW: String(WINDOW_S),
    LATCHKEY_LOG_LEVEL: 'warn',
  };
  const a = await startLatchkey(db.url, env);
  const b = await startLatchkey(db.url, env);
  return { fixture, a, b };
}

function expectThrottled(answer: { status: number; headers: Headers; body: unknown }, what: string): void {
  expect(answer.status, `${what}: ${JSON.stringify(answer.body)}`).toBe(429);
  expect(answer.body, what).toMatchObject({ error: 'temporarily_unavailable' });
  const retryAfter = answer.headers.get('retry-after');
  expect(retryAfter, `${what}: Retry-After`).toMatch(/^[0-9]+$/);
  expect(Number(retryAfter), `${what}: Retry-After`).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter), `${what}: Retry-After`).toBeLessThanOrEqual(WINDOW_S);
}

describe('faults: failed-authentication limits shared by two processes on one PostgreSQL database', () => {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await stopAllLatchkeys();
    for (const db of dbs) await db.drop();
  });

  it('limits a client to 5 failures in all, whichever process saw them; another client is unaffected', async () => {
    const { fixture, a, b } = await twoProcesses(dbs, { client: 5, address: 1000 });
    const servers = [a, b];
    const token = (server: LatchkeyProcess, client: { client_id: string; client_secret: string }) =>
      postForm(server.base, '/oauth/token', { grant_type: 'client_credentials', scope: 'read:projects' }, basic(client));
    const wrong = { client_id: fixture.machine.client_id, client_secret: 'lkcs_wrong-secret' };

    // Five failures, alternating between the processes: each is a plain 401.
    for (let i = 0; i < 5; i++) {
      const answer = await token(servers[i % 2]!, wrong);
      expect(answer.status, `failure ${i + 1} at process ${i % 2 === 0 ? 'A' : 'B'}: ${JSON.stringify(answer.body)}`).toBe(401);
      expect(answer.body.error).toBe('invalid_client');
    }
    // Now both refuse the client, wrong or right secret, by Basic or by form.
    const seen: string[] = [];
    for (const [name, server] of [['A', a], ['B', b]] as const) {
      const wrongAgain = await token(server, wrong);
      expectThrottled(wrongAgain, `process ${name}, wrong secret`);
      const right = await token(server, fixture.machine);
      expectThrottled(right, `process ${name}, right secret`);
      const posted = await postForm(server.base, '/oauth/token', { grant_type: 'client_credentials', scope: 'read:projects', ...fixture.machine });
      expectThrottled(posted, `process ${name}, right secret in the form`);
      seen.push(`${name}: Retry-After ${right.headers.get('retry-after')}`);
    }
    // Another client, at either process: served, and its own failures are its own.
    for (const server of servers) {
      const other = await token(server, fixture.otherMachine);
      expect(other.status, JSON.stringify(other.body)).toBe(200);
      expect((await token(server, { ...fixture.otherMachine, client_secret: 'lkcs_wrong-secret' })).status).toBe(401);
    }
    console.info(`client limit: 5 failures (3 at A, 2 at B), then 429 at both (${seen.join(', ')}); other client served at both`);
  }, 40_000);

  it('limits an address at the admin API across both processes, then at the token endpoint too', async () => {
    const { fixture, a, b } = await twoProcesses(dbs, { client: 1000, address: 4 });
    const admin = async (server: LatchkeyProcess, key: string): Promise<FormAnswer> => {
      const response = await fetch(`${server.base}/api/v1/admin/clients`, { headers: { authorization: `Bearer ${key}` } });
      return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
    };
    // The right key works before anything failed.
    expect((await admin(a, fixture.apiKey)).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const answer = await admin(i % 2 === 0 ? a : b, `lkak_wrong-key-${i}`);
      expect(answer.status, `failure ${i + 1}: ${JSON.stringify(answer.body)}`).toBe(401);
    }
    const seen: string[] = [];
    for (const [name, server] of [['A', a], ['B', b]] as const) {
      expectThrottled(await admin(server, 'lkak_wrong-key-again'), `process ${name}, wrong API key`);
      const right = await admin(server, fixture.apiKey);
      expectThrottled(right, `process ${name}, right API key`);
      // The address limit covers the client-authenticating endpoints as well.
      const token = await postForm(server.base, '/oauth/token', { grant_type: 'client_credentials', scope: 'read:projects' }, basic(fixture.machine));
      expectThrottled(token, `process ${name}, token request with the right secret`);
      // What needs no authentication is not limited.
      expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
      seen.push(`${name}: Retry-After ${right.headers.get('retry-after')}`);
    }
    console.info(`address limit: 4 failures at the admin API (2 at A, 2 at B), then 429 at both (${seen.join(', ')})`);
  }, 40_000);
});
