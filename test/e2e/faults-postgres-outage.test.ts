import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import {
  basic,
  obtainRefreshToken,
  postForm,
  seedDatabase,
  sleep,
  startLatchkey,
  stopAllLatchkeys,
  type ProcessFixture,
} from '../helpers/process-server.js';
import { TcpProxy, targetOf, throughProxy } from '../helpers/tcp-proxy.js';

/**
 * PostgreSQL goes away under load and comes back, played by a TCP proxy between a `latchkey serve`
 * process and the shared PostgreSQL server (which is never touched): every connection is reset and
 * new ones are refused for OUTAGE_MS. Latchkey must answer throughout (503, never a hang or a 500),
 * say so on /readyz, stay up, log the cause, and serve again once the database is back, without a
 * restart. Cut twice: in the middle of queries (connections checked out of the pool) and while the
 * pool only holds idle connections, with the load resuming into the outage.
 */

const OUTAGE_MS = 2_000;
/** Long enough that a request waiting for the silent database outlasts the request timeout. */
const FREEZE_MS = 6_500;
const REQUEST_TIMEOUT_S = 5;
/** The client gives up on an answer after this: longer means the server hung. */
const CLIENT_PATIENCE_MS = 8_000;
const CONNECTION_ERROR_CODES = ['ECONNREFUSED', 'ECONNRESET', '57P01', 'EPIPE', 'ETIMEDOUT'];

interface Sample {
  what: 'client_credentials' | 'refresh' | 'readyz';
  started: number;
  ended: number;
  status: number | 'failed';
  error?: string;
  body?: Record<string, unknown>;
  retryAfter?: string | null;
}

describe('faults: PostgreSQL outage under load, through a TCP proxy', () => {
  let db: TestDatabase;
  let fixture: ProcessFixture;
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    fixture = await seedDatabase(db.url);
  });
  afterEach(async () => {
    await stopAllLatchkeys();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  afterAll(async () => {
    await stopAllLatchkeys();
    await db?.drop();
  });

  /**
   * Runs client-credentials and refresh load (and a /readyz poller) against a server behind a fresh
   * proxy, takes the database away for OUTAGE_MS, brings it back and checks everything. 'busy-cut'
   * resets every connection under load; 'quiet-cut' pauses the load first and resumes it into the
   * outage, so only idle pooled connections are reset; 'freeze' drops nothing but lets nothing
   * through (a partition), for FREEZE_MS.
   */
  async function outage(mode: 'busy-cut' | 'quiet-cut' | 'freeze'): Promise<void> {
    const proxy = await TcpProxy.start(targetOf(db.url));
    proxies.push(proxy);
    const server = await startLatchkey(throughProxy(db.url, proxy), {
      LATCHKEY_MASTER_KEY: fixture.masterKey,
      LATCHKEY_REFRESH_REUSE_GRACE: '300',
      LATCHKEY_REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S),
      LATCHKEY_LOG_LEVEL: 'info',
    });
    const agent = new BrowserAgent(server.base);
    const chains = [await obtainRefreshToken(server.base, fixture, agent), await obtainRefreshToken(server.base, fixture, agent)];
    const samples: Sample[] = [];
    let running = true;
    let paused: Promise<void> | undefined;
    let resume = () => {};
    let inFlight = 0;

    const timed = async (what: Sample['what'], call: (signal: AbortSignal) => Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>): Promise<Sample> => {
      const started = performance.now();
      let sample: Sample;
      inFlight++;
      try {
        const answer = await call(AbortSignal.timeout(CLIENT_PATIENCE_MS));
        sample = { what, started, ended: performance.now(), status: answer.status, body: answer.body, retryAfter: answer.headers.get('retry-after') };
      } catch (err) {
        sample = { what, started, ended: performance.now(), status: 'failed', error: (err as Error).message };
      } finally {
        inFlight--;
      }
      samples.push(sample);
      return sample;
    };
    const auth = basic(fixture.confidential);
    const clientCredentialsLoop = async () => {
      while (running) {
        await paused;
        const s = await timed('client_credentials', (signal) => postForm(server.base, '/oauth/token', { grant_type: 'client_credentials', scope: 'read:projects' }, basic(fixture.machine), signal));
        await sleep(s.status === 200 ? 10 : 50);
      }
    };
    const refreshLoop = async (chain: number) => {
      while (running) {
        await paused;
        const s = await timed('refresh', (signal) => postForm(server.base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: chains[chain]!.refresh_token }, auth, signal));
        if (s.status === 200) chains[chain] = { access_token: s.body!.access_token as string, refresh_token: s.body!.refresh_token as string };
        await sleep(s.status === 200 ? 10 : 50);
      }
    };
    const readyLoop = async () => {
      while (running) {
        await paused;
        await timed('readyz', async (signal) => {
          const response = await fetch(`${server.base}/readyz`, { signal });
          return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
        });
        await sleep(150);
      }
    };
    const loops = [clientCredentialsLoop(), clientCredentialsLoop(), refreshLoop(0), refreshLoop(1), readyLoop()];

    let cutAt = 0;
    let restoredAt = 0;
    let recoveredAt = 0;
    try {
      await sleep(1_500);
      if (mode === 'quiet-cut') {
        paused = new Promise((resolve) => (resume = resolve));
        while (inFlight > 0) await sleep(10);
        await sleep(200);
      }
      cutAt = performance.now();
      if (mode === 'freeze') proxy.freeze();
      else await proxy.cut();
      resume();
      paused = undefined;
      await sleep(mode === 'freeze' ? FREEZE_MS : OUTAGE_MS);
      expect.soft(server.alive(), 'the process exited during the outage').toBe(true);
      if (mode === 'freeze') proxy.thaw();
      else await proxy.restore();
      restoredAt = performance.now();
      for (let waited = 0; waited < 10_000 && !recoveredAt && server.alive(); waited += 50) {
        recoveredAt = samples.find((s) => s.what === 'readyz' && s.started >= restoredAt && s.status === 200)?.ended ?? 0;
        await sleep(50);
      }
      await sleep(1_500);
    } finally {
      running = false;
      resume();
      await Promise.all(loops);
    }

    const load = samples.filter((s) => s.what !== 'readyz');
    const before = load.filter((s) => s.ended < cutAt);
    const during = load.filter((s) => s.ended >= cutAt && s.started < restoredAt);
    const after = load.filter((s) => recoveredAt > 0 && s.started >= recoveredAt);
    const readyDuring = samples.filter((s) => s.what === 'readyz' && s.started >= cutAt && s.ended < restoredAt);
    const statuses = (list: Sample[]) => list.reduce<Record<string, number>>((m, s) => ({ ...m, [String(s.status)]: (m[String(s.status)] ?? 0) + 1 }), {});
    const slowest = (list: Sample[]) => Math.round(Math.max(0, ...list.map((s) => s.ended - s.started)));
    const brief = (list: Sample[]) => JSON.stringify(list.slice(0, 2).map(({ what, status, body, error }) => ({ what, status, body, error })));
    console.info(
      `${mode}: outage of ${Math.round(restoredAt - cutAt)} ms (${proxy.reset} connections reset); ` +
        `/readyz 200 again ${recoveredAt ? `${Math.round(recoveredAt - restoredAt)} ms` : 'never'} after restore. ` +
        `Requests before: ${JSON.stringify(statuses(before))}; during: ${JSON.stringify(statuses(during))}, slowest ${slowest(during)} ms; ` +
        `after: ${JSON.stringify(statuses(after))}; /readyz during: ${JSON.stringify(statuses(readyDuring))}, slowest ${slowest(readyDuring)} ms; ` +
        `${load.length} token requests in all; examples during: ${brief(during.filter((s) => s.status !== 200))}`,
    );

    // Healthy before; the outage was real.
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((s) => s.status !== 200), brief(before.filter((s) => s.status !== 200))).toHaveLength(0);
    if (mode !== 'freeze') expect(proxy.reset).toBeGreaterThan(0);
    // It stayed up.
    if (!server.alive()) {
      const exit = await server.exited;
      console.info(`the server exited (code ${exit.code}, signal ${exit.signal}) ${Math.round(exit.at - cutAt)} ms after the cut; its last output:\n${server.output().split('\n').slice(-25).join('\n')}`);
    }
    expect.soft(server.alive(), 'the server process is still running').toBe(true);
    // During: always an answer, within the request timeout, and a clear one: served, or 503 with a reason and Retry-After.
    const failed = during.filter((s) => s.status === 'failed');
    expect.soft(failed.length, `requests that hung or got no answer, e.g. ${brief(failed)}`).toBe(0);
    // Node checks its timeouts once a second.
    expect.soft(slowest(during), 'the slowest answer during the outage (ms)').toBeLessThan(REQUEST_TIMEOUT_S * 1000 + 1000);
    const odd = during.filter((s) => typeof s.status === 'number' && s.status !== 200 && s.status !== 503);
    expect.soft(odd.length, `answers other than 200 or 503 during the outage, e.g. ${brief(odd)}`).toBe(0);
    const unavailable = during.filter((s) => s.status === 503);
    expect.soft(unavailable.filter((s) => typeof s.body?.error !== 'string' || !/^[1-9][0-9]*$/.test(s.retryAfter ?? '')).length, `503s without an error code or Retry-After, e.g. ${brief(unavailable)}`).toBe(0);
    // /readyz says the database is unreachable, within its 2 s ping timeout.
    // Each /readyz may take its 2 s ping timeout while the database is silent.
    expect.soft(readyDuring.length, '/readyz answers during the outage').toBeGreaterThanOrEqual(mode === 'freeze' ? 2 : 3);
    const badReady = readyDuring.filter((s) => s.status !== 503 || s.retryAfter !== '5' || s.body?.database !== 'unreachable' || s.body?.status !== 'unavailable' || s.ended - s.started >= 2_500);
    expect.soft(badReady.length, `/readyz answers during the outage other than a prompt 503 unreachable, e.g. ${brief(badReady)}`).toBe(0);
    // It came back by itself.
    expect.soft(recoveredAt, '/readyz never answered 200 after the database came back').toBeGreaterThan(0);
    expect.soft(recoveredAt - restoredAt, 'ms from restore to /readyz 200').toBeLessThan(5_000);
    expect.soft(after.length, 'token requests after recovery').toBeGreaterThan(0);
    const afterFailures = after.filter((s) => s.status !== 200);
    expect.soft(afterFailures.length, `failures after recovery, e.g. ${brief(afterFailures)}`).toBe(0);
    expect.soft(after.filter((s) => s.what === 'refresh' && s.status === 200).length, 'refreshes after recovery').toBeGreaterThan(0);
    if (server.alive()) {
      for (const chain of chains) {
        const answer = await postForm(server.base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: chain.refresh_token }, auth);
        expect.soft(answer.status, `a refresh chain after recovery: ${JSON.stringify(answer.body)}`).toBe(200);
      }
    }

    // The log names the cause, e.g. ECONNREFUSED, not "[redacted]".
    const errorLines = server.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);
    const codes = [...new Set(errorLines.map((l) => (l.err as { code?: unknown } | undefined)?.code).filter((code) => code !== undefined))];
    console.info(`error log lines: ${errorLines.length}, messages ${JSON.stringify([...new Set(errorLines.map((l) => l.msg))])}, err.code values ${JSON.stringify(codes)}`);
    // The client only ever retried a refresh it got no answer to (the grace window covers that):
    // its grant must never be taken for stolen.
    const reuse = server.logLines().filter((l) => l.msg === 'audit' && (l.audit as { type?: string } | undefined)?.type === 'refresh.reuse_detected');
    if (reuse.length > 0) console.info(`refresh.reuse_detected: ${JSON.stringify(reuse.map((l) => ({ time: l.time, detail: (l.audit as { detail?: unknown }).detail })))}; thaw/restore at ${Date.now() - Math.round(performance.now() - restoredAt)}`);
    expect.soft(reuse.length, 'grants revoked for refresh token reuse').toBe(0);
    const slowLogged = server.logLines().filter((l) => l.msg === 'request' && typeof l.ms === 'number' && l.ms > REQUEST_TIMEOUT_S * 1000);
    if (slowLogged.length > 0) console.info(`request log lines over the request timeout: ${JSON.stringify(slowLogged.slice(0, 4).map(({ path, status, ms, error }) => ({ path, status, ms, error })))}`);
    // (A silent database raises no error, only waits.)
    if (mode !== 'freeze') expect.soft(codes.some((code) => CONNECTION_ERROR_CODES.includes(String(code))), 'an error line (e.g. "unhandled error") with the connection error code').toBe(true);
    expect.soft(server.output()).not.toContain('"code":"[redacted]"');
  }

  it('cut in the middle of queries: stays up, answers 503 (never a hang or a 500), reports it on /readyz, recovers without a restart', () => outage('busy-cut'), 40_000);

  it('cut while the pool is idle, load resuming into the outage: the same', () => outage('quiet-cut'), 40_000);

  it('database silent (connections held, nothing answered): answers within the request timeout, not when the database returns', () => outage('freeze'), 40_000);
});
