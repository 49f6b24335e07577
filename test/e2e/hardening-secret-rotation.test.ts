import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { adminCall, latchkey, latchkeyJson, movableClock, tokenRequest, type Credentials } from '../helpers/hardening.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * Client secret rotation with a grace period: the old secret keeps working for N seconds after a
 * rotation (the server's clock is moved to get past it), through the admin API and the CLI.
 */
describe.each(DATABASE_KINDS)('client secret rotation with a grace period (%s)', (kind) => {
  const clock = movableClock();
  let server: TestServer;
  let fixture: Fixture;

  beforeAll(async () => {
    server = await startTestServer(kind, { now: clock.now, logLevel: 'warn' });
    fixture = await seed(server);
  });
  afterAll(async () => server?.stop());

  const works = async (c: Credentials) => {
    const answer = await tokenRequest(server, { grant_type: 'client_credentials' }, c);
    if (answer.status !== 200) expect(answer.status, answer.text).toBe(401);
    return answer.status === 200;
  };

  async function newClient(name: string): Promise<Credentials> {
    const created = await adminCall(server, fixture.apiKey, 'POST', '/clients', { name, grant_types: ['client_credentials'], scopes: ['read:projects'] });
    expect(created.status, created.text).toBe(201);
    return { client_id: created.json.client_id as string, client_secret: created.json.client_secret as string };
  }

  const rotate = (id: string, body?: unknown) => adminCall(server, fixture.apiKey, 'POST', `/clients/${id}/rotate-secret`, body);

  it('keeps the old secret working for grace_seconds beside the new one, then only the new one', async () => {
    const old = await newClient('graceful');
    const rotated = await rotate(old.client_id, { grace_seconds: 60 });
    expect(rotated.status, rotated.text).toBe(200);
    const fresh = { client_id: old.client_id, client_secret: rotated.json.client_secret as string };
    expect(fresh.client_secret).not.toBe(old.client_secret);
    const expiresAt = Date.parse(rotated.json.previous_secret_expires_at as string);
    expect(Math.abs(expiresAt - (clock.now() + 60_000))).toBeLessThan(5_000);

    expect(await works(old)).toBe(true);
    expect(await works(fresh)).toBe(true);
    clock.advance(50_000);
    expect(await works(old)).toBe(true);
    clock.advance(15_000);
    expect(await works(old)).toBe(false);
    expect(await works(fresh)).toBe(true);
  });

  it('without a grace period (or grace_seconds 0) ends the old secret at once', async () => {
    for (const body of [undefined, { grace_seconds: 0 }, {}]) {
      const old = await newClient('abrupt');
      const rotated = await rotate(old.client_id, body);
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.json.previous_secret_expires_at).toBeNull();
      expect(await works(old)).toBe(false);
      expect(await works({ client_id: old.client_id, client_secret: rotated.json.client_secret as string })).toBe(true);
    }
  });

  it('ends the grace of the previous secret at the next rotation: only the latest two may ever work', async () => {
    const first = await newClient('twice');
    const second = (await rotate(first.client_id, { grace_seconds: 600 })).json.client_secret as string;
    const third = (await rotate(first.client_id, { grace_seconds: 600 })).json.client_secret as string;
    expect(await works(first)).toBe(false);
    expect(await works({ client_id: first.client_id, client_secret: second })).toBe(true);
    expect(await works({ client_id: first.client_id, client_secret: third })).toBe(true);
  });

  it.each([
    ['a negative grace', { grace_seconds: -1 }],
    ['a fractional grace', { grace_seconds: 1.5 }],
    ['a grace as a string', { grace_seconds: '60' }],
    ['a grace over 30 days', { grace_seconds: 30 * 24 * 3600 + 1 }],
    ['null', { grace_seconds: null }],
    ['an unknown field', { grace: 60 }],
  ])('refuses %s with 400 invalid_request and leaves the secret unchanged', async (_name, body) => {
    const client = await newClient('refused');
    const answer = await rotate(client.client_id, body);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.json.error).toBe('invalid_request');
    expect(await works(client)).toBe(true);
  });

  it('refuses to rotate a public client with 400', async () => {
    const answer = await rotate(fixture.publicClient.client_id, { grace_seconds: 60 });
    expect(answer.status, answer.text).toBe(400);
  });

  it('rotates with latchkey clients rotate-secret --grace, and refuses bad grace values', async () => {
    const old = await newClient('cli graceful');
    const rotated = await latchkeyJson<{ client_secret: string; previous_secret_expires_at: string | null }>(server, ['clients', 'rotate-secret', old.client_id, '--grace', '3600']);
    // The CLI runs on the real clock; the server's may be ahead by now.
    expect(Math.abs(Date.parse(rotated.previous_secret_expires_at!) - (Date.now() + 3600_000))).toBeLessThan(60_000);
    const fresh = { client_id: old.client_id, client_secret: rotated.client_secret };
    expect(await works(old)).toBe(true);
    expect(await works(fresh)).toBe(true);
    clock.advance(3700_000);
    expect(await works(old)).toBe(false);
    expect(await works(fresh)).toBe(true);

    const bad = await Promise.all(
      ['-1', '1.5', 'abc', String(30 * 24 * 3600 + 1), ''].map((grace) => latchkey(server, ['clients', 'rotate-secret', fresh.client_id, '--grace', grace, '--json'])),
    );
    for (const result of bad) {
      expect(result.code, result.stdout + result.stderr).not.toBe(0);
      expect(result.stdout + result.stderr).not.toContain('lkcs_');
    }
    expect(JSON.parse(bad[0]!.stdout)).toMatchObject({ error: 'invalid_request' });
    expect(JSON.parse(bad[3]!.stdout)).toMatchObject({ error: 'invalid_request' });
    expect(await works(fresh)).toBe(true);

    const abrupt = await latchkeyJson<{ client_secret: string; previous_secret_expires_at: string | null }>(server, ['clients', 'rotate-secret', fresh.client_id, '--grace', '0']);
    expect(abrupt.previous_secret_expires_at).toBeNull();
    expect(await works(fresh)).toBe(false);
  });
});
