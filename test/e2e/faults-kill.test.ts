import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../helpers/databases.js';
import {
  basic,
  killHard,
  obtainRefreshToken,
  postForm,
  seedDatabase,
  sleep,
  startLatchkey,
  stopAllLatchkeys,
  type ProcessFixture,
  type TokenPair,
} from '../helpers/process-server.js';

/**
 * kill -9 in the middle of refresh traffic: an answer a client received must never be lost. Rotation
 * consumes a refresh token and stores its successor in one commit, and the answer goes out only
 * after it; so once restarted on the same database, the last refresh token each client received
 * works, and every access token it received is active. A refresh in flight at the kill may have been
 * committed with its answer lost: the reuse grace (LATCHKEY_REFRESH_REUSE_GRACE) then hands the
 * client the same pair when it retries, so it too must work.
 */

const CHAINS = 6;
/** Kill once this many refreshes were answered (and at least KILL_AFTER_MS passed), or at KILL_BY_MS. */
const KILL_AT_REFRESHES = 100;
const KILL_AFTER_MS = 1_000;
const KILL_BY_MS = 4_000;

interface Chain {
  /** Every pair received, the first from the code exchange. */
  received: TokenPair[];
  /** A request was on its way when the process died. */
  inFlightAtKill: boolean;
  /** How the chain's loop ended. */
  ended?: string;
}

describe.each(DATABASE_KINDS)('faults: kill -9 under refresh load (%s)', (kind) => {
  let db: TestDatabase;
  let fixture: ProcessFixture;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    fixture = await seedDatabase(db.url);
  });
  afterAll(async () => {
    await stopAllLatchkeys();
    await db?.drop();
  });

  it('loses no token whose answer a client received', async () => {
    const env = { LATCHKEY_MASTER_KEY: fixture.masterKey, LATCHKEY_REFRESH_REUSE_GRACE: '300', LATCHKEY_LOG_LEVEL: 'warn' };
    const first = await startLatchkey(db.url, env);
    const agent = new BrowserAgent(first.base);
    const chains: Chain[] = [];
    for (let i = 0; i < CHAINS; i++) chains.push({ received: [await obtainRefreshToken(first.base, fixture, agent)], inFlightAtKill: false });

    const auth = basic(fixture.confidential);
    let killed = false;
    let answered = 0;
    const inFlight = new Set<Chain>();
    const loops = chains.map(async (chain) => {
      while (!killed) {
        const current = chain.received.at(-1)!;
        inFlight.add(chain);
        try {
          const answer = await postForm(first.base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: current.refresh_token }, auth, AbortSignal.timeout(10_000));
          if (answer.status !== 200 || typeof answer.body.refresh_token !== 'string' || typeof answer.body.access_token !== 'string') {
            chain.ended = `answered ${answer.status} ${JSON.stringify(answer.body)}`;
            return;
          }
          // The whole answer was read and parsed: the client holds these tokens now.
          chain.received.push({ access_token: answer.body.access_token, refresh_token: answer.body.refresh_token });
          answered++;
        } catch (err) {
          chain.ended = `request failed: ${(err as Error).message}`;
          return;
        } finally {
          inFlight.delete(chain);
        }
      }
      chain.ended = 'stopped';
    });

    const loadStarted = performance.now();
    while (performance.now() - loadStarted < KILL_BY_MS && !(answered >= KILL_AT_REFRESHES && performance.now() - loadStarted >= KILL_AFTER_MS)) {
      await sleep(20);
      if (chains.some((c) => c.ended !== undefined)) break;
    }
    for (const chain of inFlight) chain.inFlightAtKill = true;
    killed = true;
    const exit = await killHard(first);
    const loadMs = performance.now() - loadStarted;
    await Promise.all(loops);
    expect(exit.signal).toBe('SIGKILL');
    // Before the kill, every refresh succeeded; after it, only requests cut by the kill failed.
    for (const chain of chains) expect(chain.ended === 'stopped' || chain.ended!.startsWith('request failed'), chain.ended).toBe(true);

    // On the same port, so the issuer (http://localhost:<port>, in every token) is the same, as in a real restart.
    const second = await startLatchkey(db.url, env, ['--port', String(first.port)]);
    const introspect = (token: string) => postForm(second.base, '/oauth/introspect', { token }, auth);

    let lostAnswers = 0;
    let checked = 0;
    for (const [index, chain] of chains.entries()) {
      const last = chain.received.at(-1)!;
      const what = `chain ${index} (${chain.received.length - 1} refreshes, in flight at the kill: ${chain.inFlightAtKill})`;
      // Consumed already only when a refresh in flight at the kill was committed and its answer lost.
      const state = await introspect(last.refresh_token);
      if (state.body.active !== true) {
        expect(chain.inFlightAtKill, `${what}: its last refresh token was consumed by no answered request`).toBe(true);
        lostAnswers++;
      }
      const renewed = await postForm(second.base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: last.refresh_token }, auth);
      expect(renewed.status, `${what}: ${JSON.stringify(renewed.body)}`).toBe(200);
      expect((await introspect(renewed.body.access_token as string)).body.active, what).toBe(true);
      // The family is whole: the new refresh token works too.
      const again = await postForm(second.base, '/oauth/token', { grant_type: 'refresh_token', refresh_token: renewed.body.refresh_token as string }, auth);
      expect(again.status, `${what}: ${JSON.stringify(again.body)}`).toBe(200);
      checked += 3;
    }

    // Every access token received is active, and every refresh token but the last of each chain consumed.
    const received = chains.flatMap((chain) => chain.received.map((pair, i) => ({ pair, last: i === chain.received.length - 1 })));
    const states = await inBatches(received, 16, async ({ pair, last }) => ({
      access: (await introspect(pair.access_token)).body.active,
      refresh: last ? undefined : (await introspect(pair.refresh_token)).body.active,
    }));
    checked += states.length + states.filter((s) => s.refresh !== undefined).length;
    expect(states.filter((s) => s.access !== true).length, 'received access tokens not active after the restart').toBe(0);
    expect(states.filter((s) => s.refresh !== undefined && s.refresh !== false).length, 'rotated refresh tokens still active').toBe(0);

    console.info(
      `${kind}: ${answered} refreshes answered in ${Math.round(loadMs)} ms over ${CHAINS} chains before SIGKILL; ` +
        `${chains.filter((c) => c.inFlightAtKill).length} in flight at the kill, ${lostAnswers} of them committed with the answer lost; ` +
        `${checked} token checks after the restart (${received.length} access tokens)`,
    );
    expect(answered).toBeGreaterThanOrEqual(CHAINS);
  }, 40_000);
});

/** Runs `work` over `items`, `size` at a time. */
async function inBatches<T, R>(items: T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}
