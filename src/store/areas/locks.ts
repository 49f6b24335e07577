import { sql, type RawBuilder } from 'kysely';
import type { LockLease } from '../records.js';
import type { LockStore } from '../store.js';
import type { Db } from './db.js';

/** The database's own clock in epoch milliseconds, so that leases never depend on a process's clock. */
export function databaseNow(dialect: 'sqlite' | 'postgres'): RawBuilder<number> {
  return dialect === 'postgres'
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000.0 as integer)`;
}

export class KyselyLockStore implements LockStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async acquire(name: string, owner: string, ttlMs: number): Promise<LockLease | undefined> {
    const now = databaseNow(this.dialect);
    const row = await this.db
      .insertInto('locks')
      .values({ name, owner, fence: 1, expires_at: sql<number>`${now} + ${ttlMs}` })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({ owner, fence: eb('locks.fence', '+', 1), expires_at: sql<number>`${now} + ${ttlMs}` }))
          .where('locks.expires_at', '<=', now),
      )
      .returning(['owner', 'fence'])
      .executeTakeFirst();
    return row?.owner === owner ? { name, owner, fence: Number(row.fence) } : undefined;
  }

  async renew(lease: LockLease, ttlMs: number): Promise<boolean> {
    // An unchanged fence means nobody took over, so even a lapsed lease may be extended safely.
    const row = await this.db
      .updateTable('locks')
      .set({ expires_at: sql<number>`${databaseNow(this.dialect)} + ${ttlMs}` })
      .where('name', '=', lease.name)
      .where('owner', '=', lease.owner)
      .where('fence', '=', lease.fence)
      .returning('name')
      .executeTakeFirst();
    return row !== undefined;
  }

  async isHeld(lease: LockLease): Promise<boolean> {
    let query = this.db.selectFrom('locks').select(['owner', 'fence']).where('name', '=', lease.name);
    if (this.dialect === 'postgres' && this.db.isTransaction) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row !== undefined && row.owner === lease.owner && Number(row.fence) === lease.fence;
  }

  async release(lease: LockLease): Promise<void> {
    // The row stays, lapsed as of now, so the next holder's fence is larger still: the purge keeps
    // it for as long as it keeps lapsed leases (expiring it at 0 would have it purged at once).
    await this.db
      .updateTable('locks')
      .set({ expires_at: databaseNow(this.dialect) })
      .where('name', '=', lease.name)
      .where('owner', '=', lease.owner)
      .where('fence', '=', lease.fence)
      .execute();
  }
}
