import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import {
  adminCall,
  apiKeyId,
  authorizeUrl,
  loginForm,
  logLines,
  postForm,
  postLogin,
  RFC6749_DESCRIPTION,
  tokenRequest,
  type Answer,
  type Credentials,
} from '../helpers/hardening.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';
import { TcpProxy, targetOf, throughProxy } from '../helpers/tcp-proxy.js';

/** The value of one sample of a metric, summed over the series whose labels include `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(match[3]);
  }
  return sum;
}

/** Waits for the server's onResponse log lines to be written (they follow the answer). */
async function settled(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 150));
}

/** Paths answered with HTML pages (login, consent, the authorization endpoint's error page). */
const PAGE_PATHS = new Set(['/login', '/logout', '/consent', '/oauth/authorize', '/']);

const METRIC_NAMES = [
  'latchkey_http_requests_total',
  'latchkey_http_request_duration_seconds',
  'latchkey_tokens_issued_total',
  'latchkey_token_errors_total',
  'latchkey_refresh_failures_total',
  'latchkey_throttled_requests_total',
  'latchkey_sign_ins_total',
  'latchkey_audit_events_total',
  'latchkey_broker_refreshes_total',
  'latchkey_webhook_deliveries_total',
  'latchkey_db_pool_connections',
];

describe.each(DATABASE_KINDS)('operations and wire details (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;
  /** A client of its own, so that its request log lines can be picked out. */
  let logged: Credentials;
  const secrets: string[] = [];

  beforeAll(async () => {
    server = await startTestServer(kind, {
      logLevel: 'info',
      configure: (c) => {
        c.rateLimits = { clientFailures: 2, addressFailures: 200, windowSeconds: 60 };
      },
    });
    fixture = await seed(server);
    const created = await createClient(server.ctx, { name: 'Logged', redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects'], isPublic: false });
    logged = { client_id: created.client_id, client_secret: created.client_secret! };
    secrets.push(fixture.apiKey, fixture.machine.client_secret, fixture.confidential.client_secret, logged.client_secret, fixture.user.password, server.masterKey);
  });
  afterAll(async () => server?.stop());

  const scrape = async (): Promise<string> => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  describe('health, readiness and metrics', () => {
    it('answers /healthz and /readyz with 200', async () => {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await fetch(`${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', database: 'ok' });
    });

    let failedRefreshGrowth = Number.NaN;

    it('counts a token request, a failed refresh, a throttled request and a failed sign-in', async () => {
      const before = await scrape();

      const issued = await tokenRequest(server, { grant_type: 'client_credentials' }, fixture.machine);
      expect(issued.status).toBe(200);
      secrets.push(issued.json.access_token as string);
      const failedRefresh = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: 'lkrt_never-issued-for-metrics' }, fixture.confidential);
      expect(failedRefresh.status).toBe(400);

      const target = await createClient(server.ctx, { name: 'Throttled', redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects'], isPublic: false });
      const wrong = { client_id: target.client_id, client_secret: 'lkcs_wrong-for-metrics' };
      for (let i = 0; i < 2; i++) expect((await tokenRequest(server, { grant_type: 'client_credentials' }, wrong)).status).toBe(401);
      expect((await tokenRequest(server, { grant_type: 'client_credentials' }, wrong)).status).toBe(429);

      const { agent, csrf } = await loginForm(server);
      expect((await postLogin(agent, csrf, { username: fixture.user.username, password: 'wrong for metrics' })).status).toBe(401);
      await settled();

      const after = await scrape();
      for (const name of METRIC_NAMES) expect(after, name).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'));
      expect(after).toMatch(/^latchkey_process_\w+ /m);
      const grew = (name: string, labels: Record<string, string> = {}) => metric(after, name, labels) - metric(before, name, labels);
      expect(grew('latchkey_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(1);
      expect(grew('latchkey_token_errors_total', { grant_type: 'refresh_token', error: 'invalid_grant' })).toBe(1);
      expect(grew('latchkey_throttled_requests_total', { limit: 'client' })).toBe(1);
      expect(grew('latchkey_sign_ins_total', { outcome: 'invalid' })).toBe(1);
      expect(grew('latchkey_audit_events_total', { type: 'rate_limit.exceeded' })).toBe(1);
      expect(grew('latchkey_audit_events_total', { type: 'client.auth_failed' })).toBe(2);
      expect(grew('latchkey_http_requests_total', { route: '/oauth/token', method: 'POST', status: '200' })).toBe(1);
      expect(grew('latchkey_http_requests_total', { route: '/oauth/token', method: 'POST', status: '429' })).toBe(1);
      expect(grew('latchkey_http_request_duration_seconds_count', { route: '/oauth/token', method: 'POST' })).toBe(5);
      if (kind === 'postgres') expect(metric(after, 'latchkey_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
      // Labels are route patterns, never raw paths, ids or tokens.
      for (const s of [...secrets, target.client_id]) expect(after.includes(s)).toBe(false);
      failedRefreshGrowth = grew('latchkey_refresh_failures_total', { reason: 'invalid' });
    });

    it('counts a refresh refused for an unknown token in latchkey_refresh_failures_total{reason="invalid"}', () => {
      // Its help text names the reasons "invalid" and "reuse_detected"; the failed refresh above was invalid.
      expect(failedRefreshGrowth, 'growth of latchkey_refresh_failures_total{reason="invalid"} after one failed refresh').toBe(1);
    });
  });

  describe('wire details', () => {
    it.each(['/oauth/token', '/oauth/revoke', '/oauth/introspect'])('answers GET %s with 405, Allow: POST and an RFC 6749 body', async (path) => {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')?.split(/,\s*/)).toContain('POST');
      expect(response.headers.get('allow')).not.toMatch(/GET/);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ error: 'invalid_request', error_description: 'use POST for this endpoint' });
    });

    it('answers a wrong method on an admin path with 405 and the methods it has', async () => {
      const response = await fetch(`${server.url}/api/v1/admin/clients`, { method: 'PUT', headers: { authorization: `Bearer ${fixture.apiKey}` } });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')?.split(/,\s*/).sort()).toEqual(expect.arrayContaining(['GET', 'POST']));
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    });

    it.each([
      ['a form', 'application/x-www-form-urlencoded', 'name=x&grant_types=client_credentials'],
      ['text', 'text/plain', '{"name":"x"}'],
    ])('answers %s body on the admin API with 415 invalid_request', async (_name, contentType, body) => {
      for (const path of ['/api/v1/admin/clients', '/api/v1/credentials/oauth/register']) {
        const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fixture.apiKey}`, 'content-type': contentType }, body });
        expect(response.status, path).toBe(415);
        expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
      }
    });

    it('answers a malformed URL with fixed OAuth-shaped JSON', async () => {
      const response = await fetch(`${server.url}/%`);
      expect(response.status).toBe(400);
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ error: 'invalid_request' });
      expect(text).not.toMatch(/FST_|statusCode|Client Error/);
    });

    const expectCleanDescription = (answer: Answer, status: number) => {
      expect(answer.status, answer.text).toBe(status);
      expect(typeof answer.json.error).toBe('string');
      const description = answer.json.error_description as string;
      expect(description, JSON.stringify(description)).toMatch(RFC6749_DESCRIPTION);
      expect(description.length).toBeLessThan(400);
    };

    it('keeps error_description within RFC 6749 §5.2 characters for hostile input', async () => {
      expectCleanDescription(await tokenRequest(server, 'grant_type=%00%0D%0A%E2%80%A8"§', fixture.machine), 400);
      const hostile = '"\\<script>\u2028\u0000\r\né€' + 'x'.repeat(3000);
      expectCleanDescription(await tokenRequest(server, { grant_type: 'client_credentials', scope: hostile }, fixture.machine), 400);
      expectCleanDescription(await tokenRequest(server, { grant_type: 'client_credentials', resource: `https://x.example/${hostile.replace('\u0000', '')}` }, fixture.machine), 400);
      expectCleanDescription(await tokenRequest(server, { grant_type: hostile }, fixture.machine), 400);
      expectCleanDescription(await postForm(server, '/oauth/revoke', { token: 'x', token_type_hint: hostile }, { auth: fixture.machine }), 400);

      const url = authorizeUrl(server, { client_id: fixture.confidential.client_id, scope: hostile.slice(0, 200), response_type: hostile.slice(0, 100) });
      const response = await fetch(url, { redirect: 'manual' });
      expect(response.status).toBe(302);
      const description = new URL(response.headers.get('location')!).searchParams.get('error_description') ?? '';
      expect(description, JSON.stringify(description)).toMatch(RFC6749_DESCRIPTION);
    });

    // A NUL byte is valid in URL encoding, but no field may hold one (PostgreSQL text cannot):
    // a form or a path with one is malformed, on either database alike.
    it.each([
      ['resource', () => tokenRequest(server, { grant_type: 'client_credentials', resource: 'https://x.example/\u0000' }, fixture.machine), 400],
      ['audience', () => tokenRequest(server, { grant_type: 'client_credentials', audience: 'https://x.example/\u0000' }, fixture.machine), 400],
      ['client_id (form)', () => tokenRequest(server, { grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }), 400],
      ['client_id (Basic)', () => tokenRequest(server, { grant_type: 'client_credentials' }, { client_id: 'a\u0000b', client_secret: 'x' }), 401],
      ['username', async () => {
        const { agent, csrf } = await loginForm(server);
        const r = await postLogin(agent, csrf, { username: 'a\u0000b', password: 'whatever' });
        return { status: r.status, text: await r.text() };
      }, 400],
      ['an admin path id', () => adminCall(server, fixture.apiKey, 'GET', '/clients/a%00b'), 400],
      ['an authorize client_id', async () => {
        const r = await fetch(authorizeUrl(server, { client_id: 'a\u0000b' }), { redirect: 'manual' });
        return { status: r.status, text: await r.text() };
      }, 400],
    ])('answers a NUL byte in %s as a client error, not a 500', async (_name, call, status) => {
      const answer = await call();
      expect(answer.status, answer.text.slice(0, 200)).toBe(status);
    });

    const sessionRows = async () => (await (server.ctx.store as KyselyStore).db.selectFrom('sessions').selectAll().execute()).length;

    it('signs in with a Unicode return_to: 303 to the percent-encoded path, one session row per sign-in, never a 500', async () => {
      const before = await sessionRows();
      for (const [returnTo, location] of [
        ['/你', '/%E4%BD%A0'],
        ['/café?q=😀 x', '/caf%C3%A9?q=%F0%9F%98%80%20x'],
      ] as const) {
        const { agent, csrf } = await loginForm(server);
        const response = await postLogin(agent, csrf, { username: fixture.user.username, password: fixture.user.password, return_to: returnTo });
        expect(response.status, returnTo).toBe(303);
        expect(response.headers.get('location')).toBe(location);
        expect(response.headers.getSetCookie().join(';')).toContain('latchkey_session=');
      }
      expect(await sessionRows()).toBe(before + 2);
    });

    it('redirects a signed-in GET /login?return_to=/%E4%BD%A0 with a percent-encoded Location', async () => {
      const { agent, csrf } = await loginForm(server);
      const signedIn = await postLogin(agent, csrf, { username: fixture.user.username, password: fixture.user.password });
      expect(signedIn.status).toBe(303);
      const cookie = /latchkey_session=[^;]+/.exec(signedIn.headers.getSetCookie().join(';'))![0];
      const rows = await sessionRows();
      for (const [query, location] of [
        ['/%E4%BD%A0', '/%E4%BD%A0'],
        [encodeURIComponent('/你/ü?x=ñ'), '/%E4%BD%A0/%C3%BC?x=%C3%B1'],
        ['/a%20b', '/a%20b'],
      ]) {
        const response = await fetch(`${server.url}/login?return_to=${query}`, { redirect: 'manual', headers: { cookie } });
        expect(response.status, query).toBe(302);
        expect(response.headers.get('location')).toBe(location);
      }
      expect(await sessionRows()).toBe(rows);
      const browser = new BrowserAgent(server.url);
      expect((await browser.get('/login?return_to=/%E4%BD%A0')).status).toBe(200);
    });

    it('logs one request line with ip, clientId and error, without secrets or query strings', async () => {
      const keyId = await apiKeyId(server, fixture.apiKey);
      const wrong = 'lkcs_wrong-secret-for-the-log';
      secrets.push(wrong);
      expect((await tokenRequest(server, { grant_type: 'client_credentials' }, logged)).status).toBe(200);
      expect((await tokenRequest(server, { grant_type: 'client_credentials', client_id: logged.client_id, client_secret: wrong })).status).toBe(401);
      expect((await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: 'lkrt_not-a-token-for-the-log' }, logged)).status).toBe(400);
      expect((await adminCall(server, fixture.apiKey, 'GET', '/clients?marker=query-marker-for-the-log')).status).toBe(200);
      await fetch(`${server.url}/oauth/token?code=query-code-for-the-log`);
      await settled();

      const requests = logLines(server).filter((l) => l.msg === 'request');
      const mine = requests.filter((l) => l.clientId === logged.client_id);
      expect(mine.map((l) => [l.status, l.error ?? null])).toEqual([
        [200, null],
        [401, 'invalid_client'],
        [400, 'unauthorized_client'],
      ]);
      for (const line of mine) expect(line).toMatchObject({ method: 'POST', path: '/oauth/token', ip: '127.0.0.1' });
      for (const line of requests) {
        expect(typeof line.reqId).toBe('string');
        expect(typeof line.ms).toBe('number');
        expect(typeof line.ip).toBe('string');
        expect(String(line.path)).not.toContain('?');
        if ((line.status as number) >= 400 && !PAGE_PATHS.has(String(line.path))) expect(typeof line.error, JSON.stringify(line)).toBe('string');
      }
      expect(requests.find((l) => l.path === '/api/v1/admin/clients' && l.method === 'GET')).toMatchObject({ actor: `api_key:${keyId}`, status: 200, ip: '127.0.0.1' });
      expect(requests.find((l) => l.path === '/oauth/token' && l.method === 'GET')).toMatchObject({ status: 405, error: 'invalid_request' });
      const text = server.logs();
      expect(text).not.toContain('query-marker-for-the-log');
      expect(text).not.toContain('query-code-for-the-log');
      expect(text).not.toContain('lkrt_not-a-token-for-the-log');
      for (const s of secrets) expect(text.includes(s), 'a secret is in the log').toBe(false);
    });

    it('names the error in the request line of failed pages too: a wrong password, an authorization error page', async () => {
      await settled();
      const failures = logLines(server).filter((l) => l.msg === 'request' && PAGE_PATHS.has(String(l.path)) && (l.status as number) >= 400);
      expect(failures.some((l) => l.path === '/login' && l.status === 401)).toBe(true);
      expect(failures.some((l) => l.path === '/oauth/authorize' && l.status === 400)).toBe(true);
      for (const line of failures) expect(typeof line.error, JSON.stringify(line)).toBe('string');
    });

    it('hit no unhandled error on the way', () => {
      expect(server.logs()).not.toContain('unhandled error');
    });
  });
});

describe('metrics switched off (LATCHKEY_METRICS=false)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', {
      logLevel: 'warn',
      configure: (c) => {
        c.metrics = false;
      },
    });
  });
  afterAll(async () => server?.stop());

  it('answers /metrics with 404 and still serves /healthz and /readyz', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('latchkey_');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});

/**
 * An unhandled error shows its cause in the log: PostgreSQL is reached through a TCP proxy, which is
 * then cut, so the next query fails with ECONNREFUSED. (SQLite has no such cause to show: a closed
 * database throws errors without a code.)
 */
describe('an unhandled error in the log (postgres behind a proxy that is cut)', () => {
  let real: TestDatabase;
  let proxy: TcpProxy;
  let server: TestServer;
  let fixture: Fixture;

  beforeAll(async () => {
    real = await createTestDatabase('postgres');
    proxy = await TcpProxy.start(targetOf(real.url));
    server = await startTestServer('postgres', { logLevel: 'info', db: { kind: 'postgres', url: throughProxy(real.url, proxy), drop: async () => undefined } });
    fixture = await seed(server);
  });
  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
    await real?.drop();
  });

  it('answers /readyz 503 and a 503 temporarily_unavailable, and logs err.code ECONNREFUSED (not [redacted])', async () => {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toEqual({ status: 'unavailable', database: 'unreachable' });

    // Pooled connections that died with the cut may fail first without a code; new ones are refused.
    let codes: unknown[] = [];
    for (let attempt = 0; attempt < 5 && !codes.includes('ECONNREFUSED'); attempt++) {
      const answer = await tokenRequest(server, { grant_type: 'client_credentials' }, fixture.machine);
      expect(answer.status, answer.text).toBe(503);
      expect(answer.text).not.toMatch(/ECONNREFUSED|at .*\.js/);
      expect(answer.json).toEqual({ error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again later' });
      await settled();
      codes = logLines(server)
        .filter((l) => l.msg === 'unhandled error')
        .map((l) => (l.err as { code?: unknown } | undefined)?.code);
    }
    expect(codes, JSON.stringify(codes)).toContain('ECONNREFUSED');
    expect(codes).not.toContain('[redacted]');
    const failed = logLines(server).filter((l) => l.msg === 'request' && l.status === 503 && l.path === '/oauth/token');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]).toMatchObject({ error: 'temporarily_unavailable', path: '/oauth/token' });
  });
});
