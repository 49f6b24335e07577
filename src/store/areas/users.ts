import type { ApiKeyRecord, UserRecord } from '../records.js';
import type { ApiKeyStore, UserStore } from '../store.js';
import { atomic, deleted, flag, type Db, type Row } from './db.js';
import { revokeGrants } from './tokens.js';

const toUser = (r: Row<'users'>): UserRecord => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  isAdmin: r.is_admin === 1,
  createdAt: r.created_at,
});

const toApiKey = (r: Row<'api_keys'>): ApiKeyRecord => ({ id: r.id, name: r.name, keyHash: r.key_hash, createdAt: r.created_at });

export class KyselyUserStore implements UserStore {
  constructor(private readonly db: Db) {}

  async create(u: UserRecord): Promise<void> {
    await this.db
      .insertInto('users')
      .values({ id: u.id, username: u.username, password_hash: u.passwordHash, is_admin: flag(u.isAdmin), created_at: u.createdAt })
      .execute();
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async getByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return row && toUser(row);
  }

  async list(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').execute()).map(toUser);
  }

  async delete(id: string, now: number): Promise<boolean> {
    return atomic(this.db, async (tx) => {
      await revokeGrants(tx, { user_id: id }, now);
      await tx.deleteFrom('consents').where('user_id', '=', id).execute();
      await tx.deleteFrom('sessions').where('user_id', '=', id).execute();
      return deleted(await tx.deleteFrom('users').where('id', '=', id).executeTakeFirst());
    });
  }
}

export class KyselyApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: Db) {}

  async create(k: ApiKeyRecord): Promise<void> {
    await this.db.insertInto('api_keys').values({ id: k.id, name: k.name, key_hash: k.keyHash, created_at: k.createdAt }).execute();
  }

  async getByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
    return row && toApiKey(row);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute()).map(toApiKey);
  }

  async delete(id: string): Promise<boolean> {
    return deleted(await this.db.deleteFrom('api_keys').where('id', '=', id).executeTakeFirst());
  }
}
