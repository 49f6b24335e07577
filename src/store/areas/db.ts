import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database } from '../schema.js';

/** The handle every part of the store writes through: the pool, or one open transaction. */
export type Db = Kysely<Database> | Transaction<Database>;
export type Row<T extends keyof Database> = Selectable<Database[T]>;

/** Runs `work` in a transaction, joining the caller's when there is one (Kysely cannot nest them). */
export function atomic<T>(db: Db, work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

export const flag = (b: boolean): number => (b ? 1 : 0);
export const list = <T = string>(text: string): T[] => JSON.parse(text) as T[];
export const record = (text: string): Record<string, string> => JSON.parse(text) as Record<string, string>;
export const deleted = (result: { numDeletedRows: bigint }): boolean => Number(result.numDeletedRows) > 0;
/** The database keeps "none" as '' in key columns, so that unique indexes treat it as a value. */
export const keyOf = (value: string | null): string => value ?? '';
export const valueOf = (key: string): string | null => (key === '' ? null : key);
