import { z } from 'zod';
import { newId, randomToken } from '../crypto/secrets.js';
import { signWebhookPayload } from '../sdk/webhook-signature.js';
import type { ServerContext } from '../server/context.js';
import { sealContext } from '../store/sealed-columns.js';
import { BrokerError, parseInput } from './errors.js';
import { WEBHOOK_EVENTS } from './events.js';
import { describeUrl, outboundFetch, OutboundError, urlRefusal } from './outbound.js';
import { backoffMs } from './refresh.js';
import { deliveryView, webhookView } from './views.js';

const DELIVERY_TIMEOUT_MS = 10_000;
const BATCH = 20;
const DELIVERY_LOG_LIMIT = 100;

export const webhookBody = z.strictObject({
  url: z.string().min(1).max(2000),
  events: z.array(z.enum(WEBHOOK_EVENTS)).max(WEBHOOK_EVENTS.length).optional(),
  secret: z.string().min(16, 'must be at least 16 characters').max(200).optional(),
});

export const parseWebhookBody = (body: unknown): z.infer<typeof webhookBody> => parseInput(webhookBody, body);

/** Registers a receiver; its signing secret is returned this once and kept sealed. */
export async function createWebhook(ctx: ServerContext, input: z.infer<typeof webhookBody>) {
  const refusal = urlRefusal(input.url);
  if (refusal) throw new BrokerError('invalid_request', `url ${refusal}`);
  const id = newId('whk_');
  const secret = input.secret ?? `whsec_${randomToken(32)}`;
  const events = [...new Set(input.events ?? [])];
  const record = { id, url: input.url, events, secretSealed: ctx.masterKeys.seal(secret, sealContext('webhooks.secret_sealed', id)), createdAt: ctx.now() };
  await ctx.store.webhooks.create(record);
  return { ...webhookView(record), events: events.length > 0 ? events : [...WEBHOOK_EVENTS], secret };
}

export async function listWebhooks(ctx: ServerContext) {
  return (await ctx.store.webhooks.list()).map((w) => ({ ...webhookView(w), events: w.events.length > 0 ? w.events : [...WEBHOOK_EVENTS] }));
}

export async function deleteWebhook(ctx: ServerContext, id: string) {
  if (!(await ctx.store.webhooks.delete(id))) throw new BrokerError('not_found', 'no such webhook');
  return { success: true, message: `webhook ${id} deleted` };
}

export async function webhookDeliveries(ctx: ServerContext, id: string) {
  if (!(await ctx.store.webhooks.get(id))) throw new BrokerError('not_found', 'no such webhook');
  return (await ctx.store.webhooks.deliveries(id, DELIVERY_LOG_LIMIT)).map(deliveryView);
}

/**
 * Sends what the outbox holds whose time has come. A delivery succeeds on any 2xx; otherwise it is
 * retried with doubling delays (capped at an hour) until `webhookRetryForMs` after the event, then
 * marked failed. Receivers may see an event twice (a leader change mid-send) and dedupe by its id.
 */
export async function deliverDueWebhooks(ctx: ServerContext): Promise<number> {
  const due = await ctx.store.webhooks.due(ctx.now(), BATCH);
  for (const delivery of due) {
    const webhook = await ctx.store.webhooks.get(delivery.webhookId);
    if (!webhook) continue;
    const secret = ctx.masterKeys.open(webhook.secretSealed, sealContext('webhooks.secret_sealed', webhook.id));
    const attempts = delivery.attempts + 1;
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await outboundFetch(
        webhook.url,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Latchkey-Webhooks/1',
            'latchkey-signature': signWebhookPayload(delivery.payload, secret, Math.floor(ctx.now() / 1000)),
          },
          body: delivery.payload,
        },
        { timeoutMs: DELIVERY_TIMEOUT_MS },
      );
      statusCode = response.status;
      if (!response.ok) error = `the receiver answered ${response.status}`;
    } catch (err) {
      error = err instanceof OutboundError ? err.message : `${describeUrl(webhook.url)} could not be reached`;
    }
    const now = ctx.now();
    const givenUp = error !== null && now - delivery.createdAt >= ctx.config.broker.webhookRetryForMs;
    ctx.metrics.webhookDeliveries.inc({ outcome: error === null ? 'delivered' : givenUp ? 'failed' : 'retrying' });
    await ctx.store.webhooks.recordAttempt(delivery.id, {
      status: error === null ? 'delivered' : givenUp ? 'failed' : 'pending',
      attempts,
      nextAttemptAt: error === null || givenUp ? null : now + backoffMs(ctx.config.broker.retryBaseMs, attempts),
      lastStatusCode: statusCode,
      lastError: error,
      deliveredAt: error === null ? now : null,
    });
  }
  return due.length;
}
