import { newId } from '../crypto/secrets.js';
import type { ConnectionRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { connectionView } from './views.js';

export const WEBHOOK_EVENTS = ['connection.created', 'connection.reauthorized', 'connection.refresh_failed', 'connection.revoked'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Puts one event in the outbox of every webhook that wants it. Called with the transaction that made
 * the change, so an event is recorded exactly when its change is, and survives any restart.
 */
export async function recordEvent(tx: Store, type: WebhookEvent, connection: ConnectionRecord, now: number): Promise<void> {
  const webhooks = (await tx.webhooks.list()).filter((w) => w.events.length === 0 || w.events.includes(type));
  if (webhooks.length === 0) return;
  const eventId = newId('evt_');
  const payload = JSON.stringify({ id: eventId, type, created_at: new Date(now).toISOString(), data: { connection: connectionView(connection) } });
  await tx.webhooks.enqueue(
    webhooks.map((w) => ({
      id: newId('dlv_'),
      webhookId: w.id,
      eventId,
      eventType: type,
      payload,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      lastStatusCode: null,
      lastError: null,
      createdAt: now,
      deliveredAt: null,
    })),
  );
}
