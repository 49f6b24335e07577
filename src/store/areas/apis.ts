import type { ApiRecord } from '../records.js';
import type { ApiPatch, ApiStore } from '../store.js';
import { atomic, flag, list, type Db, type Row } from './db.js';
import { revokeGrants } from './tokens.js';

const toApi = (r: Row<'apis'>): ApiRecord => ({
  id: r.id,
  identifier: r.identifier,
  name: r.name,
  scopes: list(r.scopes),
  isDefault: r.is_default === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class KyselyApiStore implements ApiStore {
  constructor(private readonly db: Db) {}

  async create(api: ApiRecord): Promise<void> {
    await atomic(this.db, async (tx) => {
      if (api.isDefault) await tx.updateTable('apis').set({ is_default: 0 }).execute();
      await tx
        .insertInto('apis')
        .values({
          id: api.id,
          identifier: api.identifier,
          name: api.name,
          scopes: JSON.stringify(api.scopes),
          is_default: flag(api.isDefault),
          created_at: api.createdAt,
          updated_at: api.updatedAt,
        })
        .execute();
    });
  }

  async update(id: string, patch: ApiPatch, now: number): Promise<ApiRecord | undefined> {
    return atomic(this.db, async (tx) => {
      const row = await tx
        .updateTable('apis')
        .set({
          ...(patch.name !== undefined && { name: patch.name }),
          ...(patch.scopes !== undefined && { scopes: JSON.stringify(patch.scopes) }),
          ...(patch.isDefault !== undefined && { is_default: flag(patch.isDefault) }),
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      // Only once the API is known to exist, so updating a missing one leaves the default alone.
      if (patch.isDefault) await tx.updateTable('apis').set({ is_default: 0 }).where('id', '<>', id).where('is_default', '=', 1).execute();
      return toApi(row);
    });
  }

  async get(id: string): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toApi(row);
  }

  async getByIdentifier(identifier: string): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('identifier', '=', identifier).executeTakeFirst();
    return row && toApi(row);
  }

  async getDefault(): Promise<ApiRecord | undefined> {
    const row = await this.db.selectFrom('apis').selectAll().where('is_default', '=', 1).executeTakeFirst();
    return row && toApi(row);
  }

  async list(): Promise<ApiRecord[]> {
    return (await this.db.selectFrom('apis').selectAll().orderBy('created_at').orderBy('id').execute()).map(toApi);
  }

  async delete(id: string, now: number): Promise<boolean> {
    return atomic(this.db, async (tx) => {
      const api = await tx.deleteFrom('apis').where('id', '=', id).returning('identifier').executeTakeFirst();
      if (!api) return false;
      // Tokens for an API that no longer exists must not keep coming.
      await revokeGrants(tx, { resource: api.identifier }, now);
      await tx.deleteFrom('authorization_codes').where('resource', '=', api.identifier).execute();
      await tx.deleteFrom('consents').where('resource', '=', api.identifier).execute();
      return true;
    });
  }
}
