import type { ClientAuthMethod, ClientRecord, GrantType } from '../records.js';
import type { ClientPatch, ClientStore } from '../store.js';
import { atomic, deleted, flag, list, type Db, type Row } from './db.js';

const toClient = (r: Row<'clients'>): ClientRecord => ({
  id: r.id,
  name: r.name,
  secretHash: r.secret_hash,
  isPublic: r.is_public === 1,
  authMethod: r.auth_method as ClientAuthMethod | null,
  redirectUris: list(r.redirect_uris),
  grantTypes: list<GrantType>(r.grant_types),
  scopes: list(r.scopes),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  previousSecretHash: r.previous_secret_hash,
  previousSecretExpiresAt: r.previous_secret_expires_at,
});

export class KyselyClientStore implements ClientStore {
  constructor(private readonly db: Db) {}

  async create(c: ClientRecord): Promise<void> {
    await this.db
      .insertInto('clients')
      .values({
        id: c.id,
        name: c.name,
        secret_hash: c.secretHash,
        is_public: flag(c.isPublic),
        auth_method: c.authMethod,
        redirect_uris: JSON.stringify(c.redirectUris),
        grant_types: JSON.stringify(c.grantTypes),
        scopes: JSON.stringify(c.scopes),
        created_at: c.createdAt,
        updated_at: c.updatedAt,
        previous_secret_hash: c.previousSecretHash,
        previous_secret_expires_at: c.previousSecretExpiresAt,
      })
      .execute();
  }

  async get(id: string): Promise<ClientRecord | undefined> {
    const row = await this.db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toClient(row);
  }

  async list(): Promise<ClientRecord[]> {
    return (await this.db.selectFrom('clients').selectAll().orderBy('created_at').orderBy('id').execute()).map(toClient);
  }

  async update(id: string, patch: ClientPatch, now: number): Promise<ClientRecord | undefined> {
    const row = await this.db
      .updateTable('clients')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.secretHash !== undefined && { secret_hash: patch.secretHash }),
        ...(patch.previousSecretHash !== undefined && { previous_secret_hash: patch.previousSecretHash }),
        ...(patch.previousSecretExpiresAt !== undefined && { previous_secret_expires_at: patch.previousSecretExpiresAt }),
        ...(patch.authMethod !== undefined && { auth_method: patch.authMethod }),
        ...(patch.redirectUris !== undefined && { redirect_uris: JSON.stringify(patch.redirectUris) }),
        ...(patch.grantTypes !== undefined && { grant_types: JSON.stringify(patch.grantTypes) }),
        ...(patch.scopes !== undefined && { scopes: JSON.stringify(patch.scopes) }),
        updated_at: now,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toClient(row);
  }

  async delete(id: string): Promise<boolean> {
    return atomic(this.db, async (tx) => {
      const grantIds = tx.selectFrom('grants').select('id').where('client_id', '=', id);
      await tx.deleteFrom('refresh_tokens').where('grant_id', 'in', grantIds).execute();
      await tx.deleteFrom('authorization_codes').where('client_id', '=', id).execute();
      await tx.deleteFrom('consents').where('client_id', '=', id).execute();
      await tx.deleteFrom('grants').where('client_id', '=', id).execute();
      // Access tokens already issued stay verifiable offline until they expire; introspection
      // refuses them because their client is gone.
      return deleted(await tx.deleteFrom('clients').where('id', '=', id).executeTakeFirst());
    });
  }
}
