import type { AuditEvent, AuditEventType } from '../records.js';
import type { AuditQuery, AuditStore } from '../store.js';
import type { Db, Row } from './db.js';

const toEvent = (r: Row<'audit_events'>): AuditEvent => ({
  id: r.id,
  type: r.type as AuditEventType,
  at: r.at,
  actor: r.actor,
  clientId: r.client_id,
  userId: r.user_id,
  ip: r.ip,
  detail: JSON.parse(r.detail) as AuditEvent['detail'],
});

export class KyselyAuditStore implements AuditStore {
  constructor(private readonly db: Db) {}

  async record(e: AuditEvent): Promise<void> {
    await this.db
      .insertInto('audit_events')
      .values({ id: e.id, type: e.type, at: e.at, actor: e.actor, client_id: e.clientId, user_id: e.userId, ip: e.ip, detail: JSON.stringify(e.detail) })
      .execute();
  }

  async list(query: AuditQuery): Promise<AuditEvent[]> {
    let select = this.db.selectFrom('audit_events').selectAll();
    if (query.type !== undefined) select = select.where('type', '=', query.type);
    if (query.since !== undefined) select = select.where('at', '>=', query.since);
    const rows = await select.orderBy('at', 'desc').orderBy('id', 'desc').limit(query.limit).execute();
    return rows.map(toEvent);
  }
}
