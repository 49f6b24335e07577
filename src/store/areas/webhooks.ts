import type { DeliveryStatus, WebhookDeliveryRecord, WebhookRecord } from '../records.js';
import type { WebhookStore } from '../broker-store.js';
import { atomic, deleted, list, type Db, type Row } from './db.js';

const toWebhook = (r: Row<'webhooks'>): WebhookRecord => ({
  id: r.id,
  url: r.url,
  events: list(r.events),
  secretSealed: r.secret_sealed,
  createdAt: r.created_at,
});

const toDelivery = (r: Row<'webhook_deliveries'>): WebhookDeliveryRecord => ({
  id: r.id,
  webhookId: r.webhook_id,
  eventId: r.event_id,
  eventType: r.event_type,
  payload: r.payload,
  status: r.status as DeliveryStatus,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  createdAt: r.created_at,
  deliveredAt: r.delivered_at,
});

export class KyselyWebhookStore implements WebhookStore {
  constructor(private readonly db: Db) {}

  async create(w: WebhookRecord): Promise<void> {
    await this.db
      .insertInto('webhooks')
      .values({ id: w.id, url: w.url, events: JSON.stringify(w.events), secret_sealed: w.secretSealed, created_at: w.createdAt })
      .execute();
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    const row = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toWebhook(row);
  }

  async list(): Promise<WebhookRecord[]> {
    return (await this.db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute()).map(toWebhook);
  }

  async delete(id: string): Promise<boolean> {
    return atomic(this.db, async (tx) => {
      await tx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      return deleted(await tx.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst());
    });
  }

  async enqueue(deliveries: WebhookDeliveryRecord[]): Promise<void> {
    if (deliveries.length === 0) return;
    await this.db
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((d) => ({
          id: d.id,
          webhook_id: d.webhookId,
          event_id: d.eventId,
          event_type: d.eventType,
          payload: d.payload,
          status: d.status,
          attempts: d.attempts,
          next_attempt_at: d.nextAttemptAt,
          last_status_code: d.lastStatusCode,
          last_error: d.lastError,
          created_at: d.createdAt,
          delivered_at: d.deliveredAt,
        })),
      )
      .execute();
  }

  async deliveries(webhookId: string, limit: number): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toDelivery);
  }

  async due(now: number, limit: number): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(toDelivery);
  }

  async recordAttempt(
    id: string,
    o: Pick<WebhookDeliveryRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastStatusCode' | 'lastError' | 'deliveredAt'>,
  ): Promise<void> {
    await this.db
      .updateTable('webhook_deliveries')
      .set({
        status: o.status,
        attempts: o.attempts,
        next_attempt_at: o.nextAttemptAt,
        last_status_code: o.lastStatusCode,
        last_error: o.lastError,
        delivered_at: o.deliveredAt,
      })
      .where('id', '=', id)
      .execute();
  }
}
