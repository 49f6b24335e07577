import type { SigningKeyRecord } from '../records.js';
import type { SigningKeyStore } from '../store.js';
import { atomic, type Db, type Row } from './db.js';
import { KyselyLockStore } from './locks.js';

const toSigningKey = (r: Row<'signing_keys'>): SigningKeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  publicJwk: r.public_jwk,
  privateSealed: r.private_sealed,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
});

export class KyselySigningKeyStore implements SigningKeyStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: 'sqlite' | 'postgres',
  ) {}

  async list(): Promise<SigningKeyRecord[]> {
    return (await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute()).map(toSigningKey);
  }

  private insert(db: Db, key: SigningKeyRecord) {
    return db
      .insertInto('signing_keys')
      .values({
        kid: key.kid,
        alg: key.alg,
        public_jwk: key.publicJwk,
        private_sealed: key.privateSealed,
        created_at: key.createdAt,
        retired_at: key.retiredAt,
      })
      .execute();
  }

  async rotate(key: SigningKeyRecord, now: number): Promise<void> {
    await atomic(this.db, async (tx) => {
      await tx.updateTable('signing_keys').set({ retired_at: now }).where('retired_at', 'is', null).execute();
      await this.insert(tx, key);
    });
  }

  async insertFirst(key: SigningKeyRecord): Promise<boolean> {
    return atomic(this.db, async (tx) => {
      // Serializes concurrent first starts: PostgreSQL through the lock row, SQLite through its write lock.
      const lease = await new KyselyLockStore(tx, this.dialect).acquire('signing-keys:first', key.kid, 30_000);
      if (!lease) return false;
      const existing = await tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
      if (existing) return false;
      await this.insert(tx, key);
      return true;
    });
  }
}
