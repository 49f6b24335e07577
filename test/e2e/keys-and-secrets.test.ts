import { readFileSync, existsSync } from 'node:fs';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { SigningAlg } from '../../src/config.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import { API, seed, startTestServer, type TestServer } from '../helpers/server.js';

async function machineToken(server: TestServer, id: string, secret: string): Promise<string> {
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret }).toString(),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function jwks(server: TestServer): Promise<{ keys: (JWK & { kid: string; alg: string })[] }> {
  return (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: (JWK & { kid: string; alg: string })[] };
}

async function verify(server: TestServer, token: string, issuer = server.url) {
  return jwtVerify(token, createLocalJWKSet(await jwks(server)), { issuer, audience: API, typ: 'at+jwt' });
}

describe.each(['ES256', 'EdDSA'] as const)('signing with %s', (alg: SigningAlg) => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  it('signs access tokens with the chosen algorithm and publishes its key', async () => {
    server = await startTestServer('sqlite', { signingAlg: alg, logLevel: 'warn' });
    const fixture = await seed(server);
    const token = await machineToken(server, fixture.machine.client_id, fixture.machine.client_secret);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg, typ: 'at+jwt' });
    const { payload } = await verify(server, token);
    expect(payload.client_id).toBe(fixture.machine.client_id);
    const keys = (await jwks(server)).keys;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ alg, use: 'sig' });
    expect(keys[0]).not.toHaveProperty('d');
  });
});

describe('switching --signing-alg on restart', () => {
  let db: TestDatabase;
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await db?.drop();
  });

  it('signs with a new key of the new algorithm while the old key stays published', async () => {
    db = await createTestDatabase('sqlite');
    const first = await startTestServer('sqlite', { db, signingAlg: 'RS256', logLevel: 'warn' });
    servers.push(first);
    const fixture = await seed(first);
    const oldToken = await machineToken(first, fixture.machine.client_id, fixture.machine.client_secret);
    await first.close();
    servers.pop();

    const second = await startTestServer('sqlite', { db, signingAlg: 'ES256', logLevel: 'warn', masterKey: first.masterKey });
    servers.push(second);
    const keys = (await jwks(second)).keys;
    expect(keys.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    const newToken = await machineToken(second, fixture.machine.client_id, fixture.machine.client_secret);
    expect(decodeProtectedHeader(newToken).alg).toBe('ES256');
    // A token signed before the switch still verifies with the published keys until it expires
    // (the restart picked another port, so the issuer is the first server's).
    await expect(verify(second, oldToken, first.url)).resolves.toBeDefined();
  });
});

/** Everything the database holds, as text: the file itself for SQLite, every row for PostgreSQL. */
async function dump(server: TestServer): Promise<string> {
  if (server.db.kind === 'sqlite') {
    const file = server.db.url.slice('sqlite:'.length);
    return [file, `${file}-wal`].filter(existsSync).map((f) => readFileSync(f).toString('latin1')).join('\n');
  }
  const client = new pg.Client({ connectionString: server.db.url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = current_schema()");
    const parts: string[] = [];
    for (const { table_name } of tables.rows) parts.push(JSON.stringify((await client.query(`select * from "${table_name}"`)).rows));
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

describe.each(DATABASE_KINDS)('secrets at rest (%s)', (kind) => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  it('keeps client secrets, refresh tokens, API keys and passwords only as hashes, and private keys sealed', async () => {
    server = await startTestServer(kind, { logLevel: 'warn' });
    const fixture = await seed(server);
    const token = await machineToken(server, fixture.machine.client_id, fixture.machine.client_secret);
    const [signing] = await server.ctx.store.signingKeys.list();
    const privateJwk = JSON.parse(server.ctx.masterKeys.open(signing!.privateSealed, `signing_key:${signing!.kid}`)) as JWK;
    expect(privateJwk.d).toBeTruthy();

    const text = await dump(server);
    expect(text).toContain(fixture.machine.client_id);
    for (const [name, secret] of Object.entries({
      'client secret': fixture.confidential.client_secret,
      'machine secret': fixture.machine.client_secret,
      'api key': fixture.apiKey,
      password: fixture.user.password,
      'private key': privateJwk.d!,
      'master key': server.masterKey,
      'access token': token,
    })) {
      expect(text.includes(secret), `the database reveals the ${name}`).toBe(false);
    }
  });
});
