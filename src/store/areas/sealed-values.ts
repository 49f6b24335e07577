import { sql } from 'kysely';
import type { SealedValue, SealedValueStore } from '../broker-store.js';
import { SEALED_COLUMNS, sealContext, type SealedColumn } from '../sealed-columns.js';
import type { Db } from './db.js';

const spec = (column: string) => {
  if (!(column in SEALED_COLUMNS)) throw new Error(`${column} is not a sealed column`);
  return SEALED_COLUMNS[column as SealedColumn];
};

export class KyselySealedValueStore implements SealedValueStore {
  constructor(private readonly db: Db) {}

  columns(): readonly string[] {
    return Object.keys(SEALED_COLUMNS);
  }

  async stale(column: string, currentKid: string, limit: number): Promise<SealedValue[]> {
    const s = spec(column);
    // Sealed values read `v1.<kid>.…`; compared by prefix without LIKE, whose `_` is a wildcard.
    const prefix = `v1.${currentKid}.`;
    const { rows } = await sql<{ key: string; sealed: string }>`
      select ${sql.ref(s.key)} as key, ${sql.ref(s.column)} as sealed from ${sql.table(s.table)}
      where ${sql.ref(s.column)} is not null and substr(${sql.ref(s.column)}, 1, ${prefix.length}) <> ${prefix}
      order by ${sql.ref(s.key)} limit ${limit}`.execute(this.db);
    return rows.map((r) => ({ column, key: r.key, sealed: r.sealed, context: sealContext(column as SealedColumn, r.key) }));
  }

  async replace(value: SealedValue, sealed: string): Promise<boolean> {
    const s = spec(value.column);
    const result = await sql`
      update ${sql.table(s.table)} set ${sql.ref(s.column)} = ${sealed}
      where ${sql.ref(s.key)} = ${value.key} and ${sql.ref(s.column)} = ${value.sealed}`.execute(this.db);
    return Number(result.numAffectedRows ?? 0) > 0;
  }
}
