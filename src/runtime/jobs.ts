import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LockLease } from '../store/records.js';
import type { Store } from '../store/store.js';

/**
 * Background work. `process` jobs run in every process (reloading the signing keys each one serves);
 * `cluster` jobs run in one process of all that share the database: the one holding the leader lease.
 */
export interface Job {
  name: string;
  everyMs: number;
  scope: 'process' | 'cluster';
  run(): Promise<void>;
}

export interface JobRunnerOptions {
  /** How long the leader lease lasts; it is renewed three times as often, so a dead leader is replaced within it. */
  leaseMs?: number;
}

const LEADER_LOCK = 'jobs:leader';

export class JobRunner {
  private readonly jobs: Job[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly owner = `${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly leaseMs: number;
  private lease: LockLease | undefined;
  private stopped = true;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    options: JobRunnerOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 15_000;
  }

  add(job: Job): this {
    this.jobs.push(job);
    return this;
  }

  get isLeader(): boolean {
    return this.lease !== undefined;
  }

  /** Elects first, so that the leader's cluster jobs run at once rather than a period later. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.elect().catch((err: unknown) => this.logger.error({ job: 'leader-election', err: { message: (err as Error).message } }, 'background job failed'));
    this.every('leader-election', this.leaseMs / 3, () => this.elect(), this.leaseMs / 3);
    for (const job of this.jobs) {
      this.every(job.name, job.everyMs, async () => {
        if (job.scope === 'cluster' && !this.lease) return;
        await job.run();
      });
    }
  }

  /** Stops scheduling, waits for the runs under way and gives up the leadership. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
    if (this.lease) await this.store.locks.release(this.lease).catch(() => undefined);
    this.lease = undefined;
  }

  private async elect(): Promise<void> {
    // A renewal that fails to answer counts as lost: another process may take over once the lease lapses.
    const renewed = this.lease ? await this.store.locks.renew(this.lease, this.leaseMs).catch(() => false) : false;
    if (renewed) return;
    if (this.lease) this.logger.warn({ job: 'leader-election' }, 'lost the job leadership');
    // Not the leader until acquired again: if acquiring fails too (the database is down), it stays so.
    this.lease = undefined;
    this.lease = await this.store.locks.acquire(LEADER_LOCK, this.owner, this.leaseMs);
    if (this.lease) this.logger.debug({ job: 'leader-election', fence: this.lease.fence }, 'runs the cluster jobs');
  }

  /** Runs `task` after `firstMs`, then `ms` after each run ends, so runs of one job never overlap. */
  private every(name: string, ms: number, task: () => Promise<void>, firstMs = 0): void {
    const schedule = (delay: number) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        tick();
      }, delay);
      timer.unref();
      this.timers.add(timer);
    };
    const tick = () => {
      if (this.stopped) return;
      const run = task()
        .catch((err: unknown) => this.logger.error({ job: name, err: { message: (err as Error).message } }, 'background job failed'))
        .finally(() => {
          this.running.delete(run);
          if (!this.stopped) schedule(ms);
        });
      this.running.add(run);
    };
    schedule(firstMs);
  }
}
