import type { MasterKeyRing } from '../crypto/seal.js';
import type { Store } from '../store/store.js';

const BATCH = 200;

export interface ResealReport {
  master_key_id: string;
  /** Values re-sealed in all. */
  resealed: number;
  by_column: Record<string, number>;
  /** Values another writer replaced while this ran; they were written under the newest key already. */
  skipped: number;
}

/**
 * Re-seals every sealed value of the database under the newest master key, column by column from
 * the one registry of them. It runs beside live servers: each value is replaced only if it is still
 * the one read, so a token refreshed meanwhile is never overwritten with an older one.
 */
export async function resealAll(store: Store, masterKeys: MasterKeyRing): Promise<ResealReport> {
  const kid = masterKeys.current.kid;
  const report: ResealReport = { master_key_id: kid, resealed: 0, by_column: {}, skipped: 0 };
  for (const column of store.sealedValues.columns()) {
    let count = 0;
    for (;;) {
      const batch = await store.sealedValues.stale(column, kid, BATCH);
      let progressed = false;
      for (const value of batch) {
        const plain = masterKeys.open(value.sealed, value.context);
        if (await store.sealedValues.replace(value, masterKeys.seal(plain, value.context))) {
          count++;
          progressed = true;
        } else report.skipped++;
      }
      // A batch with no progress means only values that writers keep replacing remain: they are theirs.
      if (batch.length < BATCH || !progressed) break;
    }
    report.by_column[column] = count;
    report.resealed += count;
  }
  return report;
}
