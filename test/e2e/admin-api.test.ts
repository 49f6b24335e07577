import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

describe.each(DATABASE_KINDS)('the admin REST API (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;

  beforeAll(async () => {
    server = await startTestServer(kind, { logLevel: 'warn' });
    fixture = await seed(server);
  });
  afterAll(async () => server?.stop());

  const call = async (method: string, path: string, body?: unknown, key: string | null = fixture.apiKey) => {
    const response = await fetch(`${server.url}/api/v1/admin${path}`, {
      method,
      headers: { ...(key !== null && { authorization: `Bearer ${key}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> & Record<string, unknown>[] };
  };

  it('refuses a missing or wrong API key with 401 and WWW-Authenticate: Bearer', async () => {
    const missing = await call('GET', '/clients', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.body.error).toBe('unauthorized');
    const wrong = await call('GET', '/clients', undefined, 'lkak_not-a-real-key');
    expect(wrong.status).toBe(401);
  });

  it('creates an API, a client with a secret shown once, and manages the client', async () => {
    const api = await call('POST', '/apis', { identifier: 'https://inventory.example.com', name: 'Inventory', scopes: ['read:items=See your items'] });
    expect(api.status).toBe(201);
    expect(api.body).toMatchObject({ identifier: 'https://inventory.example.com', scopes: ['read:items'], scope_descriptions: { 'read:items': 'See your items' }, default: false });

    const created = await call('POST', '/clients', { name: 'Warehouse', grant_types: ['client_credentials'], scopes: ['read:items'] });
    expect(created.status).toBe(201);
    const id = created.body.client_id as string;
    expect(created.body.client_secret).toMatch(/^lkcs_/);

    const shown = await call('GET', `/clients/${id}`);
    expect(shown.body).not.toHaveProperty('client_secret');
    expect(shown.body.token_endpoint_auth_methods).toEqual(['client_secret_basic', 'client_secret_post']);

    const patched = await call('PATCH', `/clients/${id}`, { name: 'Warehouse v2' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Warehouse v2', scopes: ['read:items'], grant_types: ['client_credentials'] });

    const rotated = await call('POST', `/clients/${id}/rotate-secret`);
    expect(rotated.body.client_secret).not.toBe(created.body.client_secret);

    expect((await call('DELETE', `/clients/${id}`)).body).toEqual({ client_id: id, deleted: true });
    expect((await call('GET', `/clients/${id}`)).status).toBe(404);
  });

  it('answers bad bodies with 400 invalid_request, never a 500', async () => {
    const unknownField = await call('POST', '/clients', { name: 'x', grant_types: ['client_credentials'], scopes: ['read:projects'], secret: 'mine' });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error).toBe('invalid_request');
    const malformed = await call('POST', '/clients', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('invalid_request');
    const wrongType = await call('POST', '/users', { username: 'carol', password: 12345678 });
    expect(wrongType.status).toBe(400);
    const badRedirect = await call('POST', '/clients', { name: 'x', grant_types: ['authorization_code'], redirect_uris: ['http://example.com/cb'], scopes: ['read:projects'] });
    expect(badRedirect.status).toBe(400);
    expect(String(badRedirect.body.error_description)).toContain('https');
  });

  it('answers conflicts with 409 and unknown ids with 404', async () => {
    const duplicate = await call('POST', '/users', { username: fixture.user.username, password: 'another password' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error).toBe('conflict');
    expect((await call('DELETE', '/api-keys/ak_nope')).status).toBe(404);
  });

  it('lists and rotates signing keys', async () => {
    const before = (await call('GET', '/keys')).body as unknown as { kid: string; status: string }[];
    expect(before.filter((k) => k.status === 'signing')).toHaveLength(1);
    const rotated = await call('POST', '/keys/rotate', { alg: 'ES256' });
    expect(rotated.body.alg).toBe('ES256');
    const after = (await call('GET', '/keys')).body as unknown as { kid: string; status: string }[];
    expect(after.find((k) => k.kid === rotated.body.kid)?.status).toBe('signing');
    expect(after.find((k) => k.kid === before[0]!.kid)?.status).toBe('retired');
  });

  it('creates users and API keys; an API key works until deleted', async () => {
    const user = await call('POST', '/users', { username: 'dave', password: 'a fine password' });
    expect(user.status).toBe(201);
    expect(user.body).not.toHaveProperty('password');
    const key = await call('POST', '/api-keys', { name: 'ci' });
    expect((await call('GET', '/users', undefined, key.body.key as string)).status).toBe(200);
    await call('DELETE', `/api-keys/${key.body.id as string}`);
    expect((await call('GET', '/users', undefined, key.body.key as string)).status).toBe(401);
  });
});

describe('deleting an API', () => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  it('makes the tokens for it inactive at introspection, client credentials included', async () => {
    server = await startTestServer('sqlite', { logLevel: 'warn' });
    const fixture = await seed(server);
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: fixture.machine.client_id, client_secret: fixture.machine.client_secret, ...fields }).toString(),
    });
    const issued = (await (await fetch(`${server.url}/oauth/token`, form({ grant_type: 'client_credentials', audience: 'https://billing.example.com' }))).json()) as { access_token: string };
    const introspect = async () => ((await (await fetch(`${server.url}/oauth/introspect`, form({ token: issued.access_token }))).json()) as { active: boolean }).active;
    expect(await introspect()).toBe(true);

    const deleted = await fetch(`${server.url}/api/v1/admin/apis/${encodeURIComponent('https://billing.example.com')}`, { method: 'DELETE', headers: { authorization: `Bearer ${fixture.apiKey}` } });
    expect(deleted.status).toBe(200);
    expect(await introspect()).toBe(false);
  });
});
