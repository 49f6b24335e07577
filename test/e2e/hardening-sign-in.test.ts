import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/admin/users.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { auditEvents, loginForm, postLogin } from '../helpers/hardening.js';
import { seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

/**
 * Sign-in attempts are counted atomically before the password is checked: of any number of parallel
 * guesses for one username, at most 5 are checked; the rest answer 429 unchecked. Each request comes
 * from its own address (X-Forwarded-For, trusted from 127.0.0.1), so that only the per-username limit
 * is in play, never the per-address one (20).
 */
describe.each(DATABASE_KINDS)('the parallel sign-in race (%s)', (kind) => {
  let server: TestServer;
  let fixture: Fixture;
  let nextAddress = 0;
  /** A documentation address (RFC 5737) never used before in this server. */
  const freshAddress = () => {
    nextAddress++;
    return `198.51.${Math.floor(nextAddress / 250)}.${(nextAddress % 250) + 1}`;
  };

  beforeAll(async () => {
    server = await startTestServer(kind, { logLevel: 'info', trustProxy: '127.0.0.1' });
    fixture = await seed(server);
  });
  afterAll(async () => server?.stop());

  /** Fires every attempt at once through the real login form; returns the statuses in order. */
  async function race(username: string, passwords: string[]): Promise<number[]> {
    const { agent, csrf } = await loginForm(server);
    const responses = await Promise.all(passwords.map((password) => postLogin(agent, csrf, { username, password }, freshAddress())));
    for (const r of responses) await r.arrayBuffer();
    return responses.map((r) => r.status);
  }

  const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {});

  it('checks exactly 5 of 30 simultaneous wrong passwords (401) and refuses 25 (429); then refuses the right one too', async () => {
    const password = 'race one right password';
    const user = await createUser(server.ctx, { username: 'race1', password, isAdmin: false });
    const statuses = await race('race1', Array.from({ length: 30 }, (_, i) => `wrong password ${i}`));
    expect(tally(statuses)).toEqual({ 401: 5, 429: 25 });

    const { agent, csrf } = await loginForm(server);
    const right = await postLogin(agent, csrf, { username: 'race1', password }, freshAddress());
    expect(right.status).toBe(429);
    expect(right.headers.getSetCookie().join(';')).not.toContain('latchkey_session');

    // Five failures were checked: five signin.failed, and the lock recorded exactly once.
    const failed = (await auditEvents(server, fixture.apiKey, { type: 'signin.failed' })).filter((e) => e.user_id === user.id);
    expect(failed).toHaveLength(5);
    const locked = (await auditEvents(server, fixture.apiKey, { type: 'signin.locked' })).filter((e) => e.user_id === user.id);
    expect(locked).toHaveLength(1);
    expect(locked[0]).toMatchObject({ type: 'signin.locked', actor: 'anonymous', user_id: user.id, detail: { username: 'race1' } });
    expect(locked[0]!.ip).toMatch(/^198\.51\./);
    // Nothing of the 25 unchecked attempts reached the audit trail as a failure.
    expect(failed.every((e) => e.detail.known_user === true)).toBe(true);
  });

  it('checks at most 5 of 29 wrong passwords and the right one sent together; the rest answer 429', async () => {
    const password = 'race two right password';
    await createUser(server.ctx, { username: 'race2', password, isAdmin: false });
    const passwords = Array.from({ length: 29 }, (_, i) => `wrong password ${i}`);
    passwords.splice(13, 0, password);
    const statuses = await race('race2', passwords);
    const t = tally(statuses);
    expect(Object.keys(t).every((s) => ['303', '401', '429'].includes(s)), JSON.stringify(t)).toBe(true);
    const checked = (t[401] ?? 0) + (t[303] ?? 0);
    expect(checked, JSON.stringify(t)).toBeLessThanOrEqual(5);
    expect(t[429], JSON.stringify(t)).toBe(30 - checked);
  });

  it('records signin.locked after 5 sequential failures, and a locked user stays locked for the right password', async () => {
    const password = 'sequential right password';
    const user = await createUser(server.ctx, { username: 'seq', password, isAdmin: false });
    const { agent, csrf } = await loginForm(server);
    for (let i = 1; i <= 5; i++) {
      const response = await postLogin(agent, csrf, { username: 'seq', password: `nope ${i}` }, freshAddress());
      expect(response.status, `attempt ${i}`).toBe(401);
      const locked = (await auditEvents(server, fixture.apiKey, { type: 'signin.locked' })).filter((e) => e.user_id === user.id);
      expect(locked, `after attempt ${i}`).toHaveLength(i === 5 ? 1 : 0);
    }
    expect((await postLogin(agent, csrf, { username: 'seq', password }, freshAddress())).status).toBe(429);
  });
});
