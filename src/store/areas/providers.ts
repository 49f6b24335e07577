import type { ClientAuthMethod, ProviderGrantType, ProviderRecord } from '../records.js';
import type { ProviderStore } from '../broker-store.js';
import { atomic, deleted, flag, keyOf, list, record, valueOf, type Db, type Row } from './db.js';

const toProvider = (r: Row<'providers'>): ProviderRecord => ({
  id: r.id,
  name: r.name,
  appId: valueOf(r.app_key),
  catalogName: r.catalog_name,
  grantType: r.grant_type as ProviderGrantType,
  clientId: r.client_id,
  clientSecretSealed: r.client_secret_sealed,
  authorizeUrl: r.authorize_url,
  tokenUrl: r.token_url,
  revokeUrl: r.revoke_url,
  userinfoUrl: r.userinfo_url,
  issuer: r.issuer,
  issParameterSupported: r.iss_parameter_supported === 1,
  scopes: list(r.scopes),
  scopeSeparator: r.scope_separator,
  pkce: r.pkce === 1,
  authMethod: r.auth_method as ClientAuthMethod,
  redirectUri: r.redirect_uri,
  authorizationParams: record(r.authorization_params),
  tokenParams: record(r.token_params),
  templateValues: record(r.template_values),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The columns a registration sets; id and created_at stay those of the first registration. */
const settable = (p: ProviderRecord) => ({
  catalog_name: p.catalogName,
  grant_type: p.grantType,
  client_id: p.clientId,
  client_secret_sealed: p.clientSecretSealed,
  authorize_url: p.authorizeUrl,
  token_url: p.tokenUrl,
  revoke_url: p.revokeUrl,
  userinfo_url: p.userinfoUrl,
  issuer: p.issuer,
  iss_parameter_supported: flag(p.issParameterSupported),
  scopes: JSON.stringify(p.scopes),
  scope_separator: p.scopeSeparator,
  pkce: flag(p.pkce),
  auth_method: p.authMethod,
  redirect_uri: p.redirectUri,
  authorization_params: JSON.stringify(p.authorizationParams),
  token_params: JSON.stringify(p.tokenParams),
  template_values: JSON.stringify(p.templateValues),
  updated_at: p.updatedAt,
});

export class KyselyProviderStore implements ProviderStore {
  constructor(private readonly db: Db) {}

  async upsert(p: ProviderRecord): Promise<{ provider: ProviderRecord; created: boolean }> {
    return atomic(this.db, async (tx) => {
      const updated = await tx
        .updateTable('providers')
        .set(settable(p))
        .where('name', '=', p.name)
        .where('app_key', '=', keyOf(p.appId))
        .returningAll()
        .executeTakeFirst();
      if (updated) return { provider: toProvider(updated), created: false };
      // A concurrent first registration of the same name makes this insert a no-op; read the winner.
      await tx
        .insertInto('providers')
        .values({ id: p.id, name: p.name, app_key: keyOf(p.appId), created_at: p.createdAt, ...settable(p) })
        .onConflict((oc) => oc.columns(['name', 'app_key']).doNothing())
        .execute();
      const row = await tx.selectFrom('providers').selectAll().where('name', '=', p.name).where('app_key', '=', keyOf(p.appId)).executeTakeFirstOrThrow();
      return { provider: toProvider(row), created: row.id === p.id };
    });
  }

  async get(id: string): Promise<ProviderRecord | undefined> {
    const row = await this.db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toProvider(row);
  }

  async find(name: string, appId: string | null): Promise<ProviderRecord | undefined> {
    const row = await this.db.selectFrom('providers').selectAll().where('name', '=', name).where('app_key', '=', keyOf(appId)).executeTakeFirst();
    return row && toProvider(row);
  }

  async list(): Promise<ProviderRecord[]> {
    return (await this.db.selectFrom('providers').selectAll().orderBy('created_at').orderBy('id').execute()).map(toProvider);
  }

  async delete(id: string): Promise<boolean> {
    return deleted(await this.db.deleteFrom('providers').where('id', '=', id).executeTakeFirst());
  }
}
