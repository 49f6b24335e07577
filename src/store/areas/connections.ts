import type { ConnectionRecord, ConnectionSource, ConnectionStatus } from '../records.js';
import type { ConnectionFilter, ConnectionPatch, ConnectionStore } from '../broker-store.js';
import { deleted, keyOf, list, record, valueOf, type Db, type Row } from './db.js';

const toConnection = (r: Row<'connections'>): ConnectionRecord => ({
  id: r.id,
  providerId: r.provider_id,
  providerName: r.provider_name,
  userId: valueOf(r.user_key),
  appId: valueOf(r.app_key),
  source: r.source as ConnectionSource,
  status: r.status as ConnectionStatus,
  scopes: list(r.scopes),
  accessTokenSealed: r.access_token_sealed,
  refreshTokenSealed: r.refresh_token_sealed,
  tokenType: r.token_type,
  expiresAt: r.expires_at,
  refreshAt: r.refresh_at,
  accountId: r.account_id,
  accountEmail: r.account_email,
  config: record(r.config),
  oauth2RedirectUrl: r.oauth2_redirect_url,
  portalTokenHash: r.portal_token_hash,
  portalTokenSealed: r.portal_token_sealed,
  portalExpiresAt: r.portal_expires_at,
  failureCount: r.failure_count,
  nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error,
  authorizedAt: r.authorized_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Column values of the given fields of a connection. */
function columns(c: ConnectionPatch): Partial<Row<'connections'>> {
  const out: Partial<Row<'connections'>> = {};
  const set = <K extends keyof Row<'connections'>>(key: K, value: Row<'connections'>[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('provider_id', c.providerId);
  set('source', c.source);
  set('status', c.status);
  set('scopes', c.scopes && JSON.stringify(c.scopes));
  set('access_token_sealed', c.accessTokenSealed);
  set('refresh_token_sealed', c.refreshTokenSealed);
  set('token_type', c.tokenType);
  set('expires_at', c.expiresAt);
  set('refresh_at', c.refreshAt);
  set('account_id', c.accountId);
  set('account_email', c.accountEmail);
  set('config', c.config && JSON.stringify(c.config));
  set('oauth2_redirect_url', c.oauth2RedirectUrl);
  set('portal_token_hash', c.portalTokenHash);
  set('portal_token_sealed', c.portalTokenSealed);
  set('portal_expires_at', c.portalExpiresAt);
  set('failure_count', c.failureCount);
  set('next_attempt_at', c.nextAttemptAt);
  set('last_error', c.lastError);
  set('authorized_at', c.authorizedAt);
  set('updated_at', c.updatedAt);
  return out;
}

export class KyselyConnectionStore implements ConnectionStore {
  constructor(private readonly db: Db) {}

  async create(c: ConnectionRecord): Promise<void> {
    await this.db
      .insertInto('connections')
      .values({
        ...(columns(c) as Row<'connections'>),
        id: c.id,
        provider_name: c.providerName,
        user_key: keyOf(c.userId),
        app_key: keyOf(c.appId),
        created_at: c.createdAt,
      })
      .execute();
  }

  async get(id: string): Promise<ConnectionRecord | undefined> {
    const row = await this.db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toConnection(row);
  }

  async find(providerName: string, userId: string | null, appId: string | null): Promise<ConnectionRecord | undefined> {
    const row = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('provider_name', '=', providerName)
      .where('user_key', '=', keyOf(userId))
      .where('app_key', '=', keyOf(appId))
      .executeTakeFirst();
    return row && toConnection(row);
  }

  async findByPortalTokenHash(hash: string): Promise<ConnectionRecord | undefined> {
    const row = await this.db.selectFrom('connections').selectAll().where('portal_token_hash', '=', hash).executeTakeFirst();
    return row && toConnection(row);
  }

  async list(f: ConnectionFilter): Promise<ConnectionRecord[]> {
    let query = this.db.selectFrom('connections').selectAll();
    if (f.providerId !== undefined) query = query.where('provider_id', '=', f.providerId);
    if (f.providerName !== undefined) query = query.where('provider_name', '=', f.providerName);
    if (f.userId !== undefined) query = query.where('user_key', '=', keyOf(f.userId));
    if (f.appId !== undefined) query = query.where('app_key', '=', keyOf(f.appId));
    if (f.sources !== undefined) query = query.where('source', 'in', f.sources);
    if (f.status !== undefined) query = query.where('status', '=', f.status);
    return (await query.orderBy('created_at').orderBy('id').execute()).map(toConnection);
  }

  async update(id: string, patch: ConnectionPatch): Promise<ConnectionRecord | undefined> {
    const row = await this.db.updateTable('connections').set(columns(patch)).where('id', '=', id).returningAll().executeTakeFirst();
    return row && toConnection(row);
  }

  async delete(id: string): Promise<boolean> {
    return deleted(await this.db.deleteFrom('connections').where('id', '=', id).executeTakeFirst());
  }

  async dueForRefresh(now: number, limit: number): Promise<ConnectionRecord[]> {
    const rows = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('status', '=', 'active')
      .where('refresh_at', '<=', now)
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      .orderBy('refresh_at')
      .limit(limit)
      .execute();
    return rows.map(toConnection);
  }
}
