import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/runtime/jobs.js';
import type { LockStore, Store } from '../../src/store/store.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { sleep, useStore } from './fixtures.js';

/** A short leader lease, renewed every LEASE_MS / 3, so that takeovers happen within a test. */
const LEASE_MS = 300;
const JOB_EVERY_MS = 20;
const logger = pino({ level: 'silent' });

/** Polls `condition` every 10 ms for up to `withinMs`; says whether it came true. */
async function eventually(condition: () => boolean, withinMs: number): Promise<boolean> {
  for (let waited = 0; waited < withinMs; waited += 10) {
    if (condition()) return true;
    await sleep(10);
  }
  return condition();
}

/** The store as a process sees it that dies holding the leader lease: it is never given back. */
function dyingWith(store: Store): Store {
  const locks: LockStore = {
    acquire: (name, owner, ttlMs) => store.locks.acquire(name, owner, ttlMs),
    renew: (lease, ttlMs) => store.locks.renew(lease, ttlMs),
    isHeld: (lease) => store.locks.isHeld(lease),
    release: async () => undefined,
  };
  return new Proxy(store, { get: (target, key, receiver) => (key === 'locks' ? locks : Reflect.get(target, key, receiver)) });
}

describe.each(DATABASE_KINDS)('background jobs on %s', (kind) => {
  const t = useStore(kind);
  const runners: JobRunner[] = [];

  // Registered after useStore's hooks, so it runs before them: runners stop before their stores close.
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
  });

  /** A runner with a cluster job and a process job that count their runs. */
  function countingRunner(store: Store) {
    const runs = { cluster: 0, process: 0 };
    const runner = new JobRunner(store, logger, { leaseMs: LEASE_MS })
      .add({ name: 'count-cluster', scope: 'cluster', everyMs: JOB_EVERY_MS, run: async () => void runs.cluster++ })
      .add({ name: 'count-process', scope: 'process', everyMs: JOB_EVERY_MS, run: async () => void runs.process++ });
    runners.push(runner);
    return { runner, runs };
  }

  /** Two counting runners on separate connections to the test's database, started at once. */
  async function twoRunners(wrap: (store: Store) => Store = (s) => s) {
    const [first, second] = await t.peers(2);
    const a = countingRunner(wrap(first!));
    const b = countingRunner(second!);
    await Promise.all([a.runner.start(), b.runner.start()]);
    return [a, b] as const;
  }

  it('a cluster job runs on one runner only, a process job on every one', async () => {
    const [a, b] = await twoRunners();
    await sleep(5 * LEASE_MS);

    expect([a.runner.isLeader, b.runner.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.runner.isLeader ? [a, b] : [b, a];
    // Several lease periods: the leader kept renewing, and the follower never got a turn.
    expect(leader.runs.cluster).toBeGreaterThan(0);
    expect(follower.runs.cluster).toBe(0);
    expect(a.runs.process).toBeGreaterThan(0);
    expect(b.runs.process).toBeGreaterThan(0);
  });

  it('when the leader stops, the other takes over within a lease period and runs the cluster job', async () => {
    const [a, b] = await twoRunners();
    const [leader, follower] = a.runner.isLeader ? [a, b] : [b, a];
    expect(await eventually(() => leader.runs.cluster > 0, 5 * LEASE_MS)).toBe(true);

    await leader.runner.stop();
    expect(leader.runner.isLeader).toBe(false);
    const leaderRuns = leader.runs.cluster;
    expect(await eventually(() => follower.runner.isLeader, LEASE_MS)).toBe(true);
    expect(await eventually(() => follower.runs.cluster > 0, LEASE_MS)).toBe(true);
    expect(leader.runs.cluster).toBe(leaderRuns);
  });

  it('when the leader dies without giving the lease back, the other takes over once it ran out', async () => {
    const [first, second] = await t.peers(2);
    const dying = countingRunner(dyingWith(first!));
    await dying.runner.start();
    expect(dying.runner.isLeader).toBe(true);
    const survivor = countingRunner(second!);
    await survivor.runner.start();
    expect(survivor.runner.isLeader).toBe(false);

    await dying.runner.stop();
    const dyingRuns = dying.runs.cluster;
    // The lease lasts up to LEASE_MS from the last renewal; the survivor tries every LEASE_MS / 3.
    expect(await eventually(() => survivor.runner.isLeader, 2 * LEASE_MS)).toBe(true);
    expect(await eventually(() => survivor.runs.cluster > 0, LEASE_MS)).toBe(true);
    expect(dying.runs.cluster).toBe(dyingRuns);
  });

  it('stop() waits for a run in progress, then gives up the leadership', async () => {
    const [first, second] = await t.peers(2);
    const events: string[] = [];
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const runStarted = new Promise<void>((resolve) => (started = resolve));
    const runner = new JobRunner(first!, logger, { leaseMs: LEASE_MS }).add({
      name: 'slow',
      scope: 'cluster',
      everyMs: JOB_EVERY_MS,
      run: async () => {
        events.push('run started');
        started();
        await finished;
        events.push('run finished');
      },
    });
    runners.push(runner);
    await runner.start();
    await runStarted;

    const stopped = runner.stop().then(() => events.push('stopped'));
    await sleep(50);
    expect(events).toEqual(['run started']);
    finish();
    await stopped;
    expect(events).toEqual(['run started', 'run finished', 'stopped']);
    expect(runner.isLeader).toBe(false);

    // Given back, not left to run out: a runner starting now leads at once.
    const next = countingRunner(second!);
    await next.runner.start();
    expect(next.runner.isLeader).toBe(true);
    // And the stopped runner runs nothing more.
    await sleep(5 * JOB_EVERY_MS);
    expect(events.filter((e) => e === 'run started')).toHaveLength(1);
  });
});
