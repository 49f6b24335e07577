import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  Latchkey,
  LatchkeyConnectionError,
  LatchkeyError,
  NeedsReauthError,
  NotFoundError,
  PendingError,
  ProviderUnavailableError,
  UnauthorizedError,
  errorFromResponse,
  type Credentials,
} from '../../src/sdk/index.js';

/**
 * The client's own logic against a stand-in broker that records each request and answers canned,
 * SPEC-shaped bodies. The client against the real broker is exercised by the e2e tests.
 */

const API_KEY = 'lk_test_0123456789abcdef';

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  rawUrl: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Canned {
  status?: number;
  body?: unknown;
  /** Sent as is instead of JSON. */
  raw?: string;
  headers?: Record<string, string>;
  /** Never answer (for timeouts). */
  hang?: boolean;
}

class StandInBroker {
  readonly requests: Recorded[] = [];
  answer: Canned = { body: {} };
  private readonly server: Server = createServer((req, res) => void this.handle(req, res));

  start(): Promise<string> {
    return listen(this.server);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  get last(): Recorded {
    const last = this.requests.at(-1);
    if (last === undefined) throw new Error('no request reached the stand-in broker');
    return last;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      rawUrl: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    const { status = 200, body, raw, headers = {}, hang = false } = this.answer;
    if (hang) return;
    const text = raw ?? (body === undefined ? '' : JSON.stringify(body));
    const contentType = raw === undefined && body !== undefined ? { 'content-type': 'application/json' } : {};
    res.writeHead(status, { ...contentType, ...headers });
    res.end(text);
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

const CREDENTIALS: Credentials = {
  access_token: 'gho_secret_access_token',
  token_type: 'Bearer',
  expires_at: '2030-01-01T00:00:00.000Z',
  expires_in: 3600,
  scopes: ['repo', 'read:user'],
  connection_id: 'c0ffee',
  connection_config: { instance_url: 'https://acme.my.salesforce.com' },
};

const CONNECTION = {
  id: 'c0ffee',
  provider_type: 'github',
  provider_name: 'github',
  user_id: 'u 1',
  app_id: null,
  status: 'active',
  scopes: ['repo'],
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
  expires_at: null,
};

const broker = new StandInBroker();
let url: string;
let latchkey: Latchkey;

beforeAll(async () => {
  url = await broker.start();
  latchkey = new Latchkey({ url, apiKey: API_KEY });
});

afterAll(() => broker.stop());

beforeEach(() => {
  broker.requests.length = 0;
  broker.answer = { body: {} };
});

describe('requests', () => {
  it('fetches credentials with the API key, sending only the ids given', async () => {
    broker.answer = { body: CREDENTIALS };
    const credentials = await latchkey.credentials('github', { userId: 'u_1' });
    expect(credentials).toEqual(CREDENTIALS);
    const { method, path, query, headers, body } = broker.last;
    expect(method).toBe('GET');
    expect(path).toBe('/api/v1/credentials/oauth/connections/github/token');
    expect([...query]).toEqual([['user_id', 'u_1']]);
    expect(headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(headers.accept).toBe('application/json');
    expect(headers['content-type']).toBeUndefined();
    expect(body).toBe('');
  });

  it('sends no query string when no id is given, and both when both are', async () => {
    broker.answer = { body: CREDENTIALS };
    await latchkey.credentials('github');
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/connections/github/token');
    await latchkey.credentials('github', { userId: 'u_1', appId: 'app_9' });
    expect([...broker.last.query]).toEqual([
      ['user_id', 'u_1'],
      ['app_id', 'app_9'],
    ]);
  });

  it('encodes path segments and query values', async () => {
    broker.answer = { body: CREDENTIALS };
    await latchkey.credentials('a/b c?#', { userId: 'x&y=z/é', appId: '' });
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/connections/a%2Fb%20c%3F%23/token?user_id=x%26y%3Dz%2F%C3%A9&app_id=');
    expect(broker.last.query.get('user_id')).toBe('x&y=z/é');
    await latchkey.getConnection('../admin');
    expect(broker.last.rawUrl).toBe('/api/v1/connections/..%2Fadmin');
  });

  it('keeps a path prefix of the base URL and drops trailing slashes', async () => {
    const prefixed = new Latchkey({ url: `${url}/latchkey/`, apiKey: API_KEY });
    broker.answer = { body: [] };
    await prefixed.listProviders();
    expect(broker.last.path).toBe('/latchkey/api/v1/credentials/oauth/providers');
  });

  it('lists connections with each filter given', async () => {
    broker.answer = { body: [CONNECTION] };
    expect(await latchkey.listConnections()).toEqual([CONNECTION]);
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/connections');
    await latchkey.listConnections({ userId: 'u 1', appId: 'a', providerName: 'github' });
    expect(broker.last.path).toBe('/api/v1/credentials/oauth/connections');
    expect(Object.fromEntries(broker.last.query)).toEqual({ user_id: 'u 1', app_id: 'a', provider_name: 'github' });
    await latchkey.listConnections({ providerName: 'slack' });
    expect([...broker.last.query]).toEqual([['provider_name', 'slack']]);
  });

  it('revokes a connection', async () => {
    const answer = { success: true, message: 'revoked', provider_revoked: false };
    broker.answer = { body: answer };
    expect(await latchkey.revokeConnection('github', { appId: 'app_9' })).toEqual(answer);
    expect(broker.last.method).toBe('DELETE');
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/connections/github?app_id=app_9');
  });

  it('registers a provider with the body as given', async () => {
    const answer = { success: true, provider_id: 'p1', message: 'created' };
    broker.answer = { status: 201, body: answer };
    const body = {
      provider_name: 'acme',
      client_id: 'cid',
      client_secret: 'csecret',
      app_id: 'app_9',
      token_data: {
        authorize_url: 'https://acme.example/authorize',
        token_url: 'https://acme.example/token',
        scopes: ['read', 'write'],
        auth_method: 'client_secret_post' as const,
        authorization_params: { prompt: 'consent' },
      },
    };
    expect(await latchkey.registerProvider(body)).toEqual(answer);
    expect(broker.last.method).toBe('POST');
    expect(broker.last.path).toBe('/api/v1/credentials/oauth/register');
    expect(broker.last.headers['content-type']).toBe('application/json');
    expect(JSON.parse(broker.last.body)).toEqual(body);
  });

  it('lists and deletes providers, with force only when asked', async () => {
    const provider = {
      provider_id: 'p1',
      provider_name: 'acme',
      app_id: null,
      grant_type: 'authorization_code',
      authorize_url: 'https://acme.example/authorize',
      token_url: 'https://acme.example/token',
      revoke_url: null,
      scopes: ['read'],
      redirect_uri: 'http://localhost:8080/api/v1/credentials/auth/callback/acme',
      created_at: '2025-01-01T00:00:00.000Z',
    };
    broker.answer = { body: [provider] };
    expect(await latchkey.listProviders()).toEqual([provider]);
    expect(broker.last.method).toBe('GET');
    expect(broker.last.path).toBe('/api/v1/credentials/oauth/providers');

    broker.answer = { body: { success: true, message: 'deleted' } };
    await latchkey.deleteProvider('p/1');
    expect(broker.last.method).toBe('DELETE');
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/providers/p%2F1');
    await latchkey.deleteProvider('p1', { force: false });
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/providers/p1');
    expect(await latchkey.deleteProvider('p1', { force: true })).toEqual({ success: true, message: 'deleted' });
    expect(broker.last.rawUrl).toBe('/api/v1/credentials/oauth/providers/p1?force=true');
  });

  it('creates a portal connection with snake_case fields, leaving out those not given', async () => {
    const created = { ...CONNECTION, status: 'pending', oauth2RedirectUrl: null };
    broker.answer = { status: 201, body: created };
    expect(await latchkey.createConnection({ providerName: 'salesforce', userId: 'cust_42', connectionConfig: { subdomain: 'acme' } })).toEqual(
      created,
    );
    expect(broker.last.method).toBe('POST');
    expect(broker.last.path).toBe('/api/v1/connections');
    expect(JSON.parse(broker.last.body)).toStrictEqual({ provider_name: 'salesforce', user_id: 'cust_42', connection_config: { subdomain: 'acme' } });
    await latchkey.createConnection({ providerName: 'github' });
    expect(JSON.parse(broker.last.body)).toStrictEqual({ provider_name: 'github' });
  });

  it('reads, updates and authorizes a portal connection, and fetches its credentials', async () => {
    broker.answer = { body: { ...CONNECTION, oauth2RedirectUrl: null } };
    await latchkey.getConnection('c1');
    expect([broker.last.method, broker.last.path]).toEqual(['GET', '/api/v1/connections/c1']);

    await latchkey.updateConnection('c1', { oauth2RedirectUrl: null });
    expect(JSON.parse(broker.last.body)).toStrictEqual({ http: { auth: { oauth: { oauth2RedirectUrl: null } } } });
    await latchkey.updateConnection('c1', { oauth2RedirectUrl: 'https://partner.example/done?x=1' });
    expect([broker.last.method, broker.last.path]).toEqual(['PUT', '/api/v1/connections/c1']);
    expect(broker.last.headers['content-type']).toBe('application/json');
    expect(JSON.parse(broker.last.body)).toStrictEqual({ http: { auth: { oauth: { oauth2RedirectUrl: 'https://partner.example/done?x=1' } } } });

    broker.answer = { body: { authorizationURL: 'http://localhost:8080/connect/abc' } };
    expect(await latchkey.authorizationUrl('c1')).toEqual({ authorizationURL: 'http://localhost:8080/connect/abc' });
    expect([broker.last.method, broker.last.path]).toEqual(['GET', '/api/v1/connections/c1/oauth2']);

    broker.answer = { body: CREDENTIALS };
    expect(await latchkey.connectionCredentials('c1')).toEqual(CREDENTIALS);
    expect([broker.last.method, broker.last.rawUrl]).toEqual(['GET', '/api/v1/connections/c1/token']);
  });

  it('manages webhooks', async () => {
    const created = { id: 'w1', url: 'https://hooks.example/latchkey', events: ['connection.revoked'], secret: 'whsec_abc', created_at: '2025-01-01T00:00:00.000Z' };
    broker.answer = { status: 201, body: created };
    expect(await latchkey.createWebhook({ url: 'https://hooks.example/latchkey', events: ['connection.revoked'] })).toEqual(created);
    expect([broker.last.method, broker.last.path]).toEqual(['POST', '/api/v1/webhooks']);
    expect(JSON.parse(broker.last.body)).toStrictEqual({ url: 'https://hooks.example/latchkey', events: ['connection.revoked'] });
    await latchkey.createWebhook({ url: 'https://hooks.example/x', secret: 's3cret' });
    expect(JSON.parse(broker.last.body)).toStrictEqual({ url: 'https://hooks.example/x', secret: 's3cret' });

    broker.answer = { body: [] };
    expect(await latchkey.listWebhooks()).toEqual([]);
    expect([broker.last.method, broker.last.path]).toEqual(['GET', '/api/v1/webhooks']);
    expect(await latchkey.webhookDeliveries('w1')).toEqual([]);
    expect([broker.last.method, broker.last.path]).toEqual(['GET', '/api/v1/webhooks/w1/deliveries']);

    broker.answer = { body: { success: true, message: 'deleted' } };
    expect(await latchkey.deleteWebhook('w 1')).toEqual({ success: true, message: 'deleted' });
    expect([broker.last.method, broker.last.rawUrl]).toEqual(['DELETE', '/api/v1/webhooks/w%201']);
  });

  it('uses the fetch it is given', async () => {
    const seen: string[] = [];
    const custom = new Latchkey({
      url: 'https://latchkey.invalid',
      apiKey: API_KEY,
      fetch: (input) => {
        seen.push(String(input));
        return Promise.resolve(Response.json(CREDENTIALS));
      },
    });
    expect(await custom.credentials('github', { userId: 'u' })).toEqual(CREDENTIALS);
    expect(seen).toEqual(['https://latchkey.invalid/api/v1/credentials/oauth/connections/github/token?user_id=u']);
  });
});

describe('errors', () => {
  const cases: [status: number, code: string, kind: new (...args: never[]) => LatchkeyError][] = [
    [401, 'unauthorized', UnauthorizedError],
    [403, 'forbidden', ForbiddenError],
    [404, 'not_found', NotFoundError],
    [400, 'invalid_request', InvalidRequestError],
    [409, 'needs_reauth', NeedsReauthError],
    [409, 'pending', PendingError],
    [409, 'provider_in_use', ConflictError],
    [409, 'conflict', ConflictError],
    [503, 'provider_unavailable', ProviderUnavailableError],
  ];

  it.each(cases)('maps %i %s to %O', async (status, code, kind) => {
    broker.answer = { status, body: { error: code, error_description: `the broker says ${code}` } };
    const err = await latchkey.credentials('github', { userId: 'u_1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(kind);
    expect(err).toBeInstanceOf(LatchkeyError);
    expect(err).toMatchObject({ code, status, message: `the broker says ${code}`, name: kind.name });
    expect(String(err)).not.toContain(API_KEY);
    expect(inspect(err)).not.toContain(API_KEY);
  });

  it('falls back on the status for a code it does not know, keeping the code', async () => {
    broker.answer = { status: 400, body: { error: 'invalid_scope', error_description: 'no such scope' } };
    await expect(latchkey.listProviders()).rejects.toMatchObject({ constructor: InvalidRequestError, code: 'invalid_scope', status: 400 });
    broker.answer = { status: 401, headers: { 'www-authenticate': 'Bearer' }, raw: '' };
    await expect(latchkey.listProviders()).rejects.toMatchObject({ constructor: UnauthorizedError, code: 'unauthorized', message: 'Latchkey answered HTTP 401' });
    broker.answer = { status: 409, body: {} };
    await expect(latchkey.listProviders()).rejects.toMatchObject({ constructor: ConflictError, code: 'conflict' });
  });

  it('does not take a bare 503 or a proxy page for provider_unavailable', async () => {
    broker.answer = { status: 503, raw: '<html>Service Unavailable</html>', headers: { 'content-type': 'text/html' } };
    const err = await latchkey.credentials('github').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(ProviderUnavailableError);
    expect(err).toMatchObject({ constructor: LatchkeyError, code: 'server_error', status: 503, message: 'Latchkey answered HTTP 503' });
    broker.answer = { status: 418, body: { error: 'teapot' } };
    await expect(latchkey.credentials('github')).rejects.toMatchObject({ constructor: LatchkeyError, code: 'teapot', status: 418 });
  });

  it('refuses a 2xx answer that is not JSON', async () => {
    broker.answer = { raw: 'ok' };
    await expect(latchkey.listProviders()).rejects.toMatchObject({ constructor: LatchkeyError, code: 'unexpected_response', status: 200 });
  });

  it('does not follow a redirect, which would carry the API key elsewhere', async () => {
    const elsewhere = new StandInBroker();
    const elsewhereUrl = await elsewhere.start();
    try {
      broker.answer = { status: 307, headers: { location: `${elsewhereUrl}/steal` } };
      await expect(latchkey.listProviders()).rejects.toMatchObject({ code: 'unexpected_response', status: 307 });
      expect(elsewhere.requests).toHaveLength(0);
    } finally {
      await elsewhere.stop();
    }
  });

  it('throws LatchkeyConnectionError when nothing listens', async () => {
    const closed = createServer();
    const closedUrl = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const err = await new Latchkey({ url: closedUrl, apiKey: API_KEY }).credentials('github').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatchkeyConnectionError);
    expect(err).toBeInstanceOf(LatchkeyError);
    expect(err).toMatchObject({ code: 'connection_failed', status: 0, message: `could not reach Latchkey at ${closedUrl}` });
    expect(inspect(err)).not.toContain(API_KEY);
  });

  it('times out after timeoutMs', async () => {
    broker.answer = { hang: true };
    const started = Date.now();
    const err = await new Latchkey({ url, apiKey: API_KEY, timeoutMs: 200 }).listProviders().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LatchkeyConnectionError);
    expect(err).toMatchObject({ code: 'timeout', status: 0 });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('errorFromResponse reads only string members of the body', () => {
    expect(errorFromResponse(404, null)).toMatchObject({ constructor: NotFoundError, code: 'not_found', message: 'Latchkey answered HTTP 404' });
    expect(errorFromResponse(409, { error: 42, error_description: ['x'] })).toMatchObject({ constructor: ConflictError, code: 'conflict' });
    expect(errorFromResponse(500, { error: 'server_error' })).toMatchObject({ message: 'Latchkey answered HTTP 500 (server_error)' });
  });
});

describe('options', () => {
  it('refuses a URL that is not absolute http(s), holds credentials or a query', () => {
    for (const bad of ['localhost:8080', 'ftp://x.example', 'https://user:pw@x.example', 'https://x.example/?a=1', '']) {
      expect(() => new Latchkey({ url: bad, apiKey: API_KEY })).toThrow(TypeError);
    }
  });

  it('refuses a missing API key or a bad timeout, without echoing the key', () => {
    expect(() => new Latchkey({ url: 'https://x.example', apiKey: '' })).toThrow(TypeError);
    for (const apiKey of [`${API_KEY}\n`, `${API_KEY} x`, `${API_KEY}é`]) {
      let thrown: unknown;
      try {
        new Latchkey({ url: 'https://x.example', apiKey });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect(inspect(thrown)).not.toContain(API_KEY);
    }
    expect(() => new Latchkey({ url: 'https://x.example', apiKey: API_KEY, timeoutMs: 0 })).toThrow(TypeError);
  });

  it('keeps the API key out of logs of the client', () => {
    const client = new Latchkey({ url: 'https://x.example', apiKey: API_KEY });
    expect(inspect(client, { showHidden: true, depth: 5 })).not.toContain(API_KEY);
    expect(JSON.stringify(client)).not.toContain(API_KEY);
  });

  it('refuses empty ids and provider names before sending anything', async () => {
    await expect(latchkey.credentials('')).rejects.toThrow(TypeError);
    expect(broker.requests).toHaveLength(0);
  });
});
