import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/** The built CLI, as `npx latchkey` runs it (npm test builds first). */
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function latchkey(server: TestServer, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--database-url', server.db.url],
      { env: { ...process.env, LATCHKEY_MASTER_KEY: server.masterKey }, timeout: 30_000 },
      (error, stdout, stderr) => {
        // A child killed by the timeout has no exit code: say so, rather than pass it off as a failure exit.
        const signal = (error as { signal?: string } | null)?.signal;
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: signal ? `${stdout}[killed by ${signal}]` : stdout, stderr });
      },
    );
  });
}

async function json<T = Record<string, unknown>>(server: TestServer, args: string[]): Promise<T> {
  const result = await latchkey(server, [...args, '--json']);
  expect(result.stderr, result.stderr).toBe('');
  expect(result.code, result.stdout).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function clientCredentials(server: TestServer, id: string, secret: string): Promise<Response> {
  return fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
}

/** Polls until `check` passes or `ms` runs out: the SPEC promises CLI changes are served within 5 s. */
async function within<T>(ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each(DATABASE_KINDS)('the CLI beside a running server (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;

  beforeAll(async () => {
    server = await startTestServer(kind, { logLevel: 'warn' });
    fixture = await seed(server);
  });
  afterAll(async () => server?.stop());

  it('creates a client whose secret works at once, is shown once and stored only as a hash', async () => {
    const created = await json<{ client_id: string; client_secret: string }>(server, [
      'clients', 'create', '--name', 'Reporting', '--grant-type', 'client_credentials', '--scope', 'read:projects',
    ]);
    expect(created.client_secret).toMatch(/^lkcs_[A-Za-z0-9_-]{43}$/);
    const response = await within(5000, async () => {
      const r = await clientCredentials(server, created.client_id, created.client_secret);
      return r.status === 200 ? r : undefined;
    });
    expect(((await response.json()) as { scope: string }).scope).toBe('read:projects');

    const shown = await json(server, ['clients', 'show', created.client_id]);
    expect(JSON.stringify(shown)).not.toContain(created.client_secret);
    expect(shown.grant_types).toEqual(['client_credentials']);
  });

  it('rotates a client secret: the old one stops working, the new one works', async () => {
    const rotated = await json<{ client_secret: string }>(server, ['clients', 'rotate-secret', fixture.machine.client_id]);
    expect((await clientCredentials(server, fixture.machine.client_id, fixture.machine.client_secret)).status).toBe(401);
    expect((await clientCredentials(server, fixture.machine.client_id, rotated.client_secret)).status).toBe(200);
    fixture.machine.client_secret = rotated.client_secret;
  });

  it('lists clients as a table by default and as JSON with --json', async () => {
    const table = await latchkey(server, ['clients', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^CLIENT_ID\s+NAME\s+PUBLIC\s+GRANT_TYPES\s+SCOPES$/);
    expect(table.stdout).toContain('Nightly Job');
    const list = await json<{ name: string }[]>(server, ['clients', 'list']);
    expect(list.map((c) => c.name)).toContain('Nightly Job');
  });

  it('rotates the signing key; the server signs with it within 5 s and keeps the old one published', async () => {
    const before = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const { kid } = await json<{ kid: string }>(server, ['keys', 'rotate']);
    const header = await within(5000, async () => {
      const r = await clientCredentials(server, fixture.machine.client_id, fixture.machine.client_secret);
      const token = ((await r.json()) as { access_token: string }).access_token;
      const h = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string };
      return h.kid === kid ? h : undefined;
    });
    expect(header.kid).toBe(kid);
    const after = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(after.keys[0]!.kid).toBe(kid);
    expect(after.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(before.keys.map((k) => k.kid)));

    const keys = await json<{ kid: string; status: string; published_until: string | null }[]>(server, ['keys', 'list']);
    const old = keys.find((k) => k.kid === before.keys[0]!.kid)!;
    expect(old.status).toBe('retired');
    expect(Date.parse(old.published_until!)).toBeGreaterThan(Date.now() + 3600_000);
  });

  it('never rotates the signing key as a side effect, whatever its own --signing-alg default', async () => {
    const { kid } = await json<{ kid: string }>(server, ['keys', 'rotate', '--signing-alg', 'ES256']);
    // The CLI's environment says nothing of ES256, yet these must leave the ES256 key signing.
    await json(server, ['users', 'list']);
    await json(server, ['clients', 'list']);
    const keys = await json<{ kid: string; alg: string; status: string }[]>(server, ['keys', 'list']);
    expect(keys.filter((k) => k.status === 'signing')).toEqual([expect.objectContaining({ kid, alg: 'ES256' })]);
  });

  it('creates an API key that authenticates the admin REST API', async () => {
    const { key } = await json<{ key: string }>(server, ['api-keys', 'create', '--name', 'deploy']);
    const ok = await fetch(`${server.url}/api/v1/admin/clients`, { headers: { authorization: `Bearer ${key}` } });
    expect(ok.status).toBe(200);
    const listed = await json<{ name: string }[]>(server, ['api-keys', 'list']);
    expect(JSON.stringify(listed)).not.toContain(key);
  });

  it('creates a user whose id is printed', async () => {
    const user = await json<{ id: string; username: string }>(server, ['users', 'create', '--username', 'bob', '--password', 'a long password']);
    expect(user.id).toMatch(/^u_/);
    expect(user.username).toBe('bob');
  });

  it('answers failures with a non-zero exit and one JSON error document', async () => {
    const missing = await latchkey(server, ['clients', 'show', 'no-such-client', '--json']);
    expect(missing.code).not.toBe(0);
    expect(JSON.parse(missing.stdout)).toEqual({ error: 'not_found', message: 'no client no-such-client' });

    const invalid = await latchkey(server, ['clients', 'create', '--name', 'x', '--grant-type', 'authorization_code', '--scope', 'read:projects', '--json']);
    expect(invalid.code).not.toBe(0);
    expect(JSON.parse(invalid.stdout)).toMatchObject({ error: 'invalid_request' });

    const duplicate = await latchkey(server, ['users', 'create', '--username', 'alice', '--password', 'whatever123', '--json']);
    expect(JSON.parse(duplicate.stdout)).toMatchObject({ error: 'conflict' });
  });

  it('deletes a client; its credentials stop working', async () => {
    const created = await json<{ client_id: string; client_secret: string }>(server, [
      'clients', 'create', '--name', 'Temporary', '--grant-type', 'client_credentials', '--scope', 'read:projects',
    ]);
    await json(server, ['clients', 'delete', created.client_id]);
    expect((await clientCredentials(server, created.client_id, created.client_secret)).status).toBe(401);
  });
});
