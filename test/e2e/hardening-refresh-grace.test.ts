import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { auditEvents, introspect, movableClock, obtainCode, tokenRequest, type Answer } from '../helpers/hardening.js';
import { REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

interface Pair {
  access_token: string;
  refresh_token: string;
}

/** A server with the given reuse grace, a signed-in browser, and the confidential client's refreshes. */
function world(kind: 'sqlite' | 'postgres', graceSeconds?: number) {
  const clock = movableClock();
  const w = {
    server: undefined as unknown as TestServer,
    fixture: undefined as unknown as Fixture,
    agent: undefined as unknown as BrowserAgent,
    advance: clock.advance,
    async start() {
      w.server = await startTestServer(kind, {
        now: clock.now,
        logLevel: 'info',
        ...(graceSeconds !== undefined && {
          configure: (c) => {
            c.refreshReuseGraceSeconds = graceSeconds;
          },
        }),
      });
      w.fixture = await seed(w.server);
      w.agent = new BrowserAgent(w.server.url);
    },
    /** A new grant of the confidential client: its first access and refresh token. */
    async grant(): Promise<Pair> {
      const code = await obtainCode(w.agent, w.server, w.fixture.user, { client_id: w.fixture.confidential.client_id, scope: 'read:projects' });
      const answer = await tokenRequest(w.server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, w.fixture.confidential);
      expect(answer.status, answer.text).toBe(200);
      return answer.json as unknown as Pair;
    },
    refresh: (refreshToken: string): Promise<Answer> => tokenRequest(w.server, { grant_type: 'refresh_token', refresh_token: refreshToken }, w.fixture.confidential),
    /** Refreshes and expects success. */
    async rotate(refreshToken: string): Promise<Pair & { expires_in: number }> {
      const answer = await w.refresh(refreshToken);
      expect(answer.status, answer.text).toBe(200);
      return answer.json as unknown as Pair & { expires_in: number };
    },
    active: async (accessToken: string): Promise<boolean> => (await introspect(w.server, accessToken, w.fixture.machine)).active === true,
    reuseEvents: async () => auditEvents(w.server, w.fixture.apiKey, { type: 'refresh.reuse_detected' }),
  };
  return w;
}

function expectInvalidGrant(answer: Answer): void {
  expect(answer.status, answer.text).toBe(400);
  expect(answer.json.error).toBe('invalid_grant');
}

describe.each(DATABASE_KINDS)('the refresh token reuse grace window, 30 s (%s)', (kind) => {
  const w = world(kind, 30);
  beforeAll(() => w.start());
  afterAll(async () => w.server?.stop());

  it('answers a retry within the window with exactly the same pair, and both tokens work', async () => {
    const first = await w.grant();
    const rotated = await w.rotate(first.refresh_token);
    expect(rotated.refresh_token).not.toBe(first.refresh_token);

    w.advance(10_000);
    const retried = await w.rotate(first.refresh_token);
    expect(retried.access_token).toBe(rotated.access_token);
    expect(retried.refresh_token).toBe(rotated.refresh_token);
    expect(retried.expires_in).toBeLessThanOrEqual(rotated.expires_in);
    expect(retried.expires_in).toBeGreaterThan(rotated.expires_in - 15);

    w.advance(15_000);
    const again = await w.rotate(first.refresh_token);
    expect({ access_token: again.access_token, refresh_token: again.refresh_token }).toEqual({ access_token: rotated.access_token, refresh_token: rotated.refresh_token });

    expect(await w.active(rotated.access_token)).toBe(true);
    expect(await w.active(first.access_token)).toBe(true);
    const next = await w.rotate(rotated.refresh_token);
    expect(next.refresh_token).not.toBe(rotated.refresh_token);
    expect(await w.active(next.access_token)).toBe(true);
    expect((await w.reuseEvents()).length).toBe(0);
  });

  it('revokes the family when the consumed token comes back after the window', async () => {
    const first = await w.grant();
    const rotated = await w.rotate(first.refresh_token);
    w.advance(31_000);
    expectInvalidGrant(await w.refresh(first.refresh_token));
    expect(await w.active(rotated.access_token)).toBe(false);
    expect(await w.active(first.access_token)).toBe(false);
    expectInvalidGrant(await w.refresh(rotated.refresh_token));
    const events = await w.reuseEvents();
    expect(events).toHaveLength(1);
    expect(events[0]!.detail.seconds_since_use).toBeGreaterThanOrEqual(30);
  });

  it('revokes the family when the consumed token comes back within the window after its successor was used', async () => {
    const first = await w.grant();
    const rotated = await w.rotate(first.refresh_token);
    const next = await w.rotate(rotated.refresh_token);
    w.advance(5_000);
    expectInvalidGrant(await w.refresh(first.refresh_token));
    expect(await w.active(next.access_token)).toBe(false);
    expect(await w.active(rotated.access_token)).toBe(false);
    expectInvalidGrant(await w.refresh(next.refresh_token));
    // The retry no longer gets the successor either.
    expectInvalidGrant(await w.refresh(rotated.refresh_token));
  });

  it('gives two concurrent refreshes of one token the same pair, which then works', async () => {
    for (let round = 0; round < 3; round++) {
      const first = await w.grant();
      const [a, b] = await Promise.all([w.refresh(first.refresh_token), w.refresh(first.refresh_token)]);
      expect([a.status, b.status], `${a.text} / ${b.text}`).toEqual([200, 200]);
      expect(a.json.access_token).toBe(b.json.access_token);
      expect(a.json.refresh_token).toBe(b.json.refresh_token);
      expect(await w.active(a.json.access_token as string)).toBe(true);
      await w.rotate(a.json.refresh_token as string);
    }
  });
});

describe.each(DATABASE_KINDS)('the refresh token reuse grace window off, the default (%s)', (kind) => {
  const w = world(kind);
  beforeAll(() => w.start());
  afterAll(async () => w.server?.stop());

  it('is 0 by default', () => {
    expect(w.server.ctx.config.refreshReuseGraceSeconds).toBe(0);
  });

  it('revokes the family at an immediate reuse', async () => {
    const first = await w.grant();
    const rotated = await w.rotate(first.refresh_token);
    expectInvalidGrant(await w.refresh(first.refresh_token));
    expect(await w.active(rotated.access_token)).toBe(false);
    expectInvalidGrant(await w.refresh(rotated.refresh_token));
    expect(await w.reuseEvents()).toHaveLength(1);
  });

  it('lets only one of two concurrent refreshes of one token through', async () => {
    const first = await w.grant();
    const answers = await Promise.all([w.refresh(first.refresh_token), w.refresh(first.refresh_token)]);
    expect(answers.map((a) => a.status).sort(), answers.map((a) => a.text).join(' / ')).toEqual([200, 400]);
  });
});
