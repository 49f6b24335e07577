import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { PROVIDER, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import {
  adminCall,
  apiKeyId,
  auditEvents,
  latchkey,
  latchkeyJson,
  loginForm,
  logLines,
  obtainCode,
  postLogin,
  tokenRequest,
  type AuditEventJson,
  type Credentials,
} from '../helpers/hardening.js';
import { REDIRECT_URI, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * The audit trail: every security event that can be caused from outside is recorded with its actor
 * (`cli`, `api_key:<id>` with the caller's address, `client:<id>`, `anonymous`), can be queried
 * through `GET /api/v1/admin/audit` and `latchkey audit list`, and is logged as one `audit` line.
 * The server under test is the broker of a broker/provider pair, so a real connection can be revoked.
 */
describe.each(DATABASE_KINDS)('the audit trail (%s)', (kind) => {
  let setup: BrokerSetup;
  let server: TestServer;
  let fixture: Fixture;
  let keyId: string;
  /** Secrets handled in this suite: none may appear in any audit event. */
  const secrets: string[] = [];
  /** Every event each test expects, by id, so the log lines can be checked at the end. */
  const expected = new Map<string, AuditEventJson>();

  beforeAll(async () => {
    setup = await startBrokerAndProvider(kind, {
      broker: {
        logLevel: 'info',
        configure: (c) => {
          c.rateLimits = { clientFailures: 3, addressFailures: 80, windowSeconds: 60 };
        },
      },
    });
    server = setup.broker;
    fixture = setup.brokerFixture;
    keyId = await apiKeyId(server, fixture.apiKey);
    secrets.push(fixture.apiKey, fixture.user.password, fixture.confidential.client_secret, fixture.machine.client_secret, server.masterKey);
  });
  afterAll(async () => stopAll(setup));

  const events = (query: Record<string, string> = {}) => auditEvents(server, fixture.apiKey, query);

  /** The one event of `type` that `match` picks out; remembered for the log check. */
  async function theEvent(type: string, match: (e: AuditEventJson) => boolean): Promise<AuditEventJson> {
    const found = (await events({ type, limit: '1000' })).filter(match);
    expect(found, `${type}: ${JSON.stringify(found)}`).toHaveLength(1);
    expected.set(found[0]!.id, found[0]!);
    return found[0]!;
  }

  it('records client, API key, user and key changes made through the CLI as actor cli, without an address', async () => {
    // Independent commands run side by side: each CLI start costs seconds.
    const clientChain = async () => {
      const created = await latchkeyJson<{ client_id: string; client_secret: string }>(server, [
        'clients', 'create', '--name', 'Audited by CLI', '--grant-type', 'client_credentials', '--scope', 'read:projects',
      ]);
      const rotated = await latchkeyJson<{ client_secret: string }>(server, ['clients', 'rotate-secret', created.client_id, '--grace', '30']);
      await latchkeyJson(server, ['clients', 'delete', created.client_id]);
      return { created, rotated };
    };
    const [{ created, rotated }, apiKey, user, { kid }] = await Promise.all([
      clientChain(),
      latchkeyJson<{ id: string; key: string }>(server, ['api-keys', 'create', '--name', 'cli audited key']),
      latchkeyJson<{ id: string }>(server, ['users', 'create', '--username', 'cli-audited', '--password', 'cli audited password']),
      latchkeyJson<{ kid: string }>(server, ['keys', 'rotate']),
    ]);
    secrets.push(created.client_secret, rotated.client_secret, apiKey.key, 'cli audited password');

    const cli = (e: AuditEventJson) => e.actor === 'cli' && e.ip === undefined;
    expect(await theEvent('client.created', (e) => e.client_id === created.client_id)).toMatchObject({ actor: 'cli', detail: { name: 'Audited by CLI' } });
    expect(await theEvent('client.secret_rotated', (e) => e.client_id === created.client_id)).toMatchObject({ actor: 'cli', detail: { grace_seconds: 30 } });
    expect(await theEvent('client.deleted', (e) => e.client_id === created.client_id)).toMatchObject({ actor: 'cli' });
    expect(await theEvent('api_key.created', (e) => e.detail.api_key_id === apiKey.id)).toMatchObject({ actor: 'cli', detail: { name: 'cli audited key' } });
    expect(await theEvent('user.created', (e) => e.user_id === user.id)).toMatchObject({ actor: 'cli', detail: { username: 'cli-audited' } });
    expect(await theEvent('key.rotated', (e) => e.detail.kid === kid)).toMatchObject({ actor: 'cli' });
    for (const e of expected.values()) expect(cli(e), JSON.stringify(e)).toBe(true);
    for (const id of [...expected.keys()]) expected.delete(id); // the CLI logs nothing, so no server log line is expected
  });

  it("records the same changes through the admin REST API as actor api_key:<id>, with the caller's address", async () => {
    const created = await adminCall(server, fixture.apiKey, 'POST', '/clients', { name: 'Audited by API', grant_types: ['client_credentials'], scopes: ['read:projects'] });
    expect(created.status, created.text).toBe(201);
    const clientId = created.json.client_id as string;
    const rotated = await adminCall(server, fixture.apiKey, 'POST', `/clients/${clientId}/rotate-secret`, { grace_seconds: 0 });
    expect(rotated.status, rotated.text).toBe(200);
    expect((await adminCall(server, fixture.apiKey, 'DELETE', `/clients/${clientId}`)).status).toBe(200);
    const apiKey = await adminCall(server, fixture.apiKey, 'POST', '/api-keys', { name: 'api audited key' });
    expect(apiKey.status, apiKey.text).toBe(201);
    expect((await adminCall(server, fixture.apiKey, 'DELETE', `/api-keys/${apiKey.json.id as string}`)).status).toBe(200);
    const user = await adminCall(server, fixture.apiKey, 'POST', '/users', { username: 'api-audited', password: 'api audited password' });
    expect(user.status, user.text).toBe(201);
    expect((await adminCall(server, fixture.apiKey, 'DELETE', `/users/${user.json.id as string}`)).status).toBe(200);
    const key = await adminCall(server, fixture.apiKey, 'POST', '/keys/rotate', {});
    expect(key.status, key.text).toBe(200);
    secrets.push(created.json.client_secret as string, rotated.json.client_secret as string, apiKey.json.key as string, 'api audited password');

    const byApi = { actor: `api_key:${keyId}`, ip: '127.0.0.1' };
    expect(await theEvent('client.created', (e) => e.client_id === clientId)).toMatchObject({ ...byApi, detail: { name: 'Audited by API' } });
    expect(await theEvent('client.secret_rotated', (e) => e.client_id === clientId)).toMatchObject({ ...byApi, detail: { grace_seconds: 0 } });
    expect(await theEvent('client.deleted', (e) => e.client_id === clientId)).toMatchObject(byApi);
    expect(await theEvent('api_key.created', (e) => e.detail.api_key_id === apiKey.json.id)).toMatchObject(byApi);
    expect(await theEvent('api_key.deleted', (e) => e.detail.api_key_id === apiKey.json.id)).toMatchObject(byApi);
    expect(await theEvent('user.created', (e) => e.user_id === user.json.id)).toMatchObject({ ...byApi, detail: { username: 'api-audited' } });
    expect(await theEvent('user.deleted', (e) => e.user_id === user.json.id)).toMatchObject(byApi);
    expect(await theEvent('key.rotated', (e) => e.detail.kid === key.json.kid)).toMatchObject(byApi);
  });

  it('records failed client authentication with the client named and the reason', async () => {
    const wrong = await tokenRequest(server, { grant_type: 'client_credentials' }, { client_id: fixture.machine.client_id, client_secret: 'lkcs_wrong-secret-for-audit' });
    expect(wrong.status).toBe(401);
    const unknown = await tokenRequest(server, { grant_type: 'client_credentials' }, { client_id: 'no-such-client-for-audit', client_secret: 'lkcs_x' });
    expect(unknown.status).toBe(401);
    secrets.push('lkcs_wrong-secret-for-audit');
    expect(await theEvent('client.auth_failed', (e) => e.client_id === fixture.machine.client_id)).toMatchObject({
      actor: 'anonymous',
      ip: '127.0.0.1',
      detail: { reason: 'wrong_secret' },
    });
    expect(await theEvent('client.auth_failed', (e) => e.client_id === 'no-such-client-for-audit')).toMatchObject({ detail: { reason: 'unknown_client' } });
  });

  it('records a wrong API key (api_key.rejected) but not a request with none', async () => {
    const before = (await events({ type: 'api_key.rejected' })).length;
    expect((await adminCall(server, 'lkak_not-a-real-key-for-audit', 'GET', '/clients')).status).toBe(401);
    expect((await adminCall(server, null, 'GET', '/clients')).status).toBe(401);
    const after = await events({ type: 'api_key.rejected' });
    expect(after).toHaveLength(before + 1);
    expected.set(after[0]!.id, after[0]!);
    expect(after[0]).toMatchObject({ type: 'api_key.rejected', actor: 'anonymous', ip: '127.0.0.1' });
    expect(JSON.stringify(after[0])).not.toContain('lkak_not-a-real-key-for-audit');
  });

  it('records a failed sign-in, for a known and for an unknown username', async () => {
    const { agent, csrf } = await loginForm(server);
    expect((await postLogin(agent, csrf, { username: fixture.user.username, password: 'not alices password' })).status).toBe(401);
    expect((await postLogin(agent, csrf, { username: 'nobody-for-audit', password: 'whatever password' })).status).toBe(401);
    secrets.push('not alices password', 'whatever password');
    expect(await theEvent('signin.failed', (e) => e.user_id === fixture.user.id)).toMatchObject({
      actor: 'anonymous',
      ip: '127.0.0.1',
      detail: { username: fixture.user.username, known_user: true },
    });
    const unknown = await theEvent('signin.failed', (e) => e.detail.username === 'nobody-for-audit');
    expect(unknown).toMatchObject({ detail: { known_user: false } });
    expect(unknown.user_id).toBeUndefined();
  });

  it('records the reuse of a refresh token with the client, the user and the grant', async () => {
    const agent = new BrowserAgent(server.url);
    const confidential: Credentials = fixture.confidential;
    const code = await obtainCode(agent, server, fixture.user, { client_id: confidential.client_id, scope: 'read:projects' });
    const first = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, confidential);
    expect(first.status, first.text).toBe(200);
    const refreshToken = first.json.refresh_token as string;
    const second = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: refreshToken }, confidential);
    expect(second.status, second.text).toBe(200);
    const reused = await tokenRequest(server, { grant_type: 'refresh_token', refresh_token: refreshToken }, confidential);
    expect(reused.status).toBe(400);
    expect(reused.json.error).toBe('invalid_grant');
    secrets.push(refreshToken, second.json.refresh_token as string, first.json.access_token as string, code);

    const event = await theEvent('refresh.reuse_detected', (e) => e.client_id === confidential.client_id);
    expect(event).toMatchObject({ actor: `client:${confidential.client_id}`, ip: '127.0.0.1', user_id: fixture.user.id });
    expect(typeof event.detail.grant_id).toBe('string');
  });

  it('records the moment a client reaches its failure limit (rate_limit.exceeded) once, then answers 429', async () => {
    const target = await createClient(server.ctx, { name: 'Throttled', redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects'], isPublic: false });
    const wrong = { client_id: target.client_id, client_secret: 'lkcs_wrong-for-throttle' };
    for (let i = 0; i < 3; i++) expect((await tokenRequest(server, { grant_type: 'client_credentials' }, wrong)).status).toBe(401);
    const refused = await tokenRequest(server, { grant_type: 'client_credentials' }, { client_id: target.client_id, client_secret: target.client_secret! });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toBe('temporarily_unavailable');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await tokenRequest(server, { grant_type: 'client_credentials' }, wrong)).status).toBe(429);
    secrets.push(target.client_secret!);
    expect(await theEvent('rate_limit.exceeded', (e) => e.client_id === target.client_id)).toMatchObject({
      actor: 'anonymous',
      ip: '127.0.0.1',
      detail: { limit: 'client', failures: 3, window_seconds: 60 },
    });
  });

  it('records the revocation of a real connection with the API key that asked', async () => {
    const registered = await registerProvider(setup);
    expect(registered.status, await registered.clone().text()).toBe(201);
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
    expect((await browser.connect()).status).toBe(302);
    const deleted = await fetch(`${server.url}/api/v1/credentials/oauth/connections/${PROVIDER}?user_id=${fixture.user.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${fixture.apiKey}` },
    });
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(await theEvent('connection.revoked', (e) => e.user_id === fixture.user.id)).toMatchObject({
      actor: `api_key:${keyId}`,
      ip: '127.0.0.1',
      detail: { provider: PROVIDER, provider_revoked: true },
    });
  });

  describe('querying', () => {
    it('lists newest first, filters by type, since and limit, and never holds a secret', async () => {
      const all = await events({ limit: '1000' });
      expect(all.length).toBeGreaterThan(20);
      const times = all.map((e) => Date.parse(e.at));
      expect(times.every((t, i) => i === 0 || t <= times[i - 1]!)).toBe(true);
      for (const e of all) {
        expect(Object.keys(e).every((k) => ['id', 'type', 'at', 'actor', 'client_id', 'user_id', 'ip', 'detail'].includes(k)), JSON.stringify(e)).toBe(true);
        expect(e.at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      }
      const text = JSON.stringify(all);
      for (const secret of secrets) expect(text.includes(secret), 'a secret is in the audit trail').toBe(false);

      expect((await events({ limit: '3' })).map((e) => e.id)).toEqual(all.slice(0, 3).map((e) => e.id));
      const rotations = await events({ type: 'client.secret_rotated' });
      expect(rotations.length).toBeGreaterThanOrEqual(2);
      expect(rotations.every((e) => e.type === 'client.secret_rotated')).toBe(true);

      const middle = all[Math.floor(all.length / 2)]!;
      const since = await events({ since: middle.at, limit: '1000' });
      expect(since.every((e) => Date.parse(e.at) >= Date.parse(middle.at))).toBe(true);
      expect(since.map((e) => e.id)).toEqual(all.filter((e) => Date.parse(e.at) >= Date.parse(middle.at)).map((e) => e.id));
      expect(await events({ since: new Date(Date.now() + 86_400_000).toISOString() })).toEqual([]);
      expect((await events({ type: 'signin.failed', since: middle.at })).every((e) => e.type === 'signin.failed')).toBe(true);
    });

    it.each([
      ['an unknown type', 'type=signin.succeeded'],
      ['a since that is no time', 'since=yesterday'],
      ['a since that is no date', 'since=2026-13-45T00:00:00Z'],
      ['limit 0', 'limit=0'],
      ['limit 1001', 'limit=1001'],
      ['a negative limit', 'limit=-1'],
      ['a fractional limit', 'limit=1.5'],
      ['a word as limit', 'limit=ten'],
      ['a repeated type', 'type=signin.failed&type=client.created'],
    ])('answers %s with 400 invalid_request', async (_name, query) => {
      const answer = await adminCall(server, fixture.apiKey, 'GET', `/audit?${query}`);
      expect(answer.status, answer.text).toBe(400);
      expect(answer.json.error).toBe('invalid_request');
      expect(answer.text).not.toMatch(/FST_|statusCode/);
    });

    it('needs an API key', async () => {
      expect((await adminCall(server, null, 'GET', '/audit')).status).toBe(401);
    });

    it('lists the same events with latchkey audit list --json, with --type, --since and --limit', async () => {
      const viaApi = await events({ limit: '50' });
      const since = viaApi[5]!.at;
      const [viaCli, typed, recent] = await Promise.all([
        latchkeyJson<AuditEventJson[]>(server, ['audit', 'list', '--limit', '50']),
        latchkeyJson<AuditEventJson[]>(server, ['audit', 'list', '--type', 'connection.revoked']),
        latchkeyJson<AuditEventJson[]>(server, ['audit', 'list', '--since', since, '--limit', '2']),
      ]);
      expect(viaCli).toEqual(viaApi);
      expect(typed.length).toBeGreaterThan(0);
      expect(typed.map((e) => e.id)).toEqual((await events({ type: 'connection.revoked' })).map((e) => e.id));
      expect(recent.map((e) => e.id)).toEqual(viaApi.slice(0, 2).map((e) => e.id));
    });

    it('prints a table for people, and refuses bad filters with a non-zero exit', async () => {
      const badFilters = [['--type', 'nonsense'], ['--since', 'yesterday'], ['--limit', '0'], ['--limit', 'ten']];
      const [table, ...bad] = await Promise.all([
        latchkey(server, ['audit', 'list', '--type', 'client.created']),
        ...badFilters.map((args) => latchkey(server, ['audit', 'list', ...args, '--json'])),
      ]);
      expect(table.code, table.stderr).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^AT\s+TYPE\s+ACTOR\s+IP\s+CLIENT_ID\s+USER_ID\s+DETAIL$/);
      expect(lines.length).toBeGreaterThan(2);
      expect(lines.slice(1).every((l) => /^\d{4}-\d{2}-\d{2}T\S+Z\s+client\.created\s+/.test(l)), table.stdout).toBe(true);
      expect(table.stdout).toContain(`api_key:${keyId}`);
      expect(table.stdout).toMatch(/\scli\s/);

      badFilters.forEach((args, i) => {
        expect(bad[i]!.code, args.join(' ')).not.toBe(0);
        expect(JSON.parse(bad[i]!.stdout), args.join(' ')).toMatchObject({ error: 'invalid_request' });
      });
    });

    it('logged each event the server recorded as one "audit" line, warnings for reuse and throttling', () => {
      const audits = logLines(server).filter((l) => l.msg === 'audit');
      expect(expected.size).toBeGreaterThanOrEqual(15);
      for (const [id, event] of expected) {
        const lines = audits.filter((l) => (l.audit as { id?: string } | undefined)?.id === id);
        expect(lines, `${event.type} ${id}`).toHaveLength(1);
        expect(lines[0]!.audit).toMatchObject({ type: event.type, actor: event.actor, ip: event.ip ?? null });
        const warning = ['refresh.reuse_detected', 'rate_limit.exceeded', 'signin.locked'].includes(event.type);
        expect(lines[0]!.level, event.type).toBe(warning ? 40 : 30);
      }
      const text = server.logs();
      for (const secret of secrets) expect(text.includes(secret), 'a secret is in the log').toBe(false);
    });
  });
});
