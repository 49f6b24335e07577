import type { ConsentRecord, InteractionRecord, SessionRecord } from '../records.js';
import type { ConsentStore, InteractionStore, RateLimitStore, RateWindow, SessionStore } from '../store.js';
import { list, type Db, type Row } from './db.js';

const toConsent = (r: Row<'consents'>): ConsentRecord => ({
  userId: r.user_id,
  clientId: r.client_id,
  resource: r.resource,
  scopes: list(r.scopes),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toInteraction = (r: Row<'interactions'>): InteractionRecord => ({
  id: r.id,
  sessionHash: r.session_hash,
  request: r.request,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
});

export class KyselyConsentStore implements ConsentStore {
  constructor(private readonly db: Db) {}

  async get(userId: string, clientId: string, resource: string): Promise<ConsentRecord | undefined> {
    const row = await this.db
      .selectFrom('consents')
      .selectAll()
      .where('user_id', '=', userId)
      .where('client_id', '=', clientId)
      .where('resource', '=', resource)
      .executeTakeFirst();
    return row && toConsent(row);
  }

  async save(c: ConsentRecord): Promise<void> {
    await this.db
      .insertInto('consents')
      .values({ user_id: c.userId, client_id: c.clientId, resource: c.resource, scopes: JSON.stringify(c.scopes), created_at: c.createdAt, updated_at: c.updatedAt })
      .onConflict((oc) => oc.columns(['user_id', 'client_id', 'resource']).doUpdateSet({ scopes: JSON.stringify(c.scopes), updated_at: c.updatedAt }))
      .execute();
  }

  async list(userId: string): Promise<ConsentRecord[]> {
    return (await this.db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('created_at').execute()).map(toConsent);
  }
}

export class KyselySessionStore implements SessionStore {
  constructor(private readonly db: Db) {}

  async create(s: SessionRecord): Promise<void> {
    await this.db.insertInto('sessions').values({ id_hash: s.idHash, user_id: s.userId, created_at: s.createdAt, expires_at: s.expiresAt }).execute();
  }

  async get(idHash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).where('expires_at', '>', now).executeTakeFirst();
    return row && { idHash: row.id_hash, userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }
}

export class KyselyInteractionStore implements InteractionStore {
  constructor(private readonly db: Db) {}

  async create(i: InteractionRecord): Promise<void> {
    await this.db
      .insertInto('interactions')
      .values({ id: i.id, session_hash: i.sessionHash, request: i.request, created_at: i.createdAt, expires_at: i.expiresAt })
      .execute();
  }

  async get(id: string, now: number): Promise<InteractionRecord | undefined> {
    const row = await this.db.selectFrom('interactions').selectAll().where('id', '=', id).where('expires_at', '>', now).executeTakeFirst();
    return row && toInteraction(row);
  }

  async take(id: string, now: number): Promise<InteractionRecord | undefined> {
    const row = await this.db.deleteFrom('interactions').where('id', '=', id).where('expires_at', '>', now).returningAll().executeTakeFirst();
    return row && toInteraction(row);
  }
}

export class KyselyRateLimitStore implements RateLimitStore {
  constructor(private readonly db: Db) {}

  async count(key: string, windowMs: number, now: number): Promise<RateWindow> {
    const row = await this.db
      .insertInto('rate_limits')
      .values({ key, count: 1, window_end: now + windowMs })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          count: eb.case().when('rate_limits.window_end', '<=', now).then(1).else(eb('rate_limits.count', '+', 1)).end(),
          window_end: eb.case().when('rate_limits.window_end', '<=', now).then(now + windowMs).else(eb.ref('rate_limits.window_end')).end(),
        })),
      )
      .returning(['count', 'window_end'])
      .executeTakeFirstOrThrow();
    return { count: row.count, windowEnd: row.window_end };
  }

  async peek(keys: string[], now: number): Promise<Map<string, RateWindow>> {
    if (keys.length === 0) return new Map();
    const rows = await this.db.selectFrom('rate_limits').select(['key', 'count', 'window_end']).where('key', 'in', keys).where('window_end', '>', now).execute();
    return new Map(rows.map((r) => [r.key, { count: r.count, windowEnd: r.window_end }]));
  }

  async uncount(key: string): Promise<void> {
    await this.db.updateTable('rate_limits').set((eb) => ({ count: eb('count', '-', 1) })).where('key', '=', key).where('count', '>', 0).execute();
  }

  async clear(key: string): Promise<void> {
    await this.db.deleteFrom('rate_limits').where('key', '=', key).execute();
  }
}
