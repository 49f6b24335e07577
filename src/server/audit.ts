import type { Logger } from 'pino';
import { newId } from '../crypto/secrets.js';
import type { Metrics } from '../runtime/metrics.js';
import type { AuditEvent, AuditEventType } from '../store/records.js';
import type { Store } from '../store/store.js';

/** Who acted and from where: `user:<id>`, `client:<id>`, `api_key:<id>`, `cli` or `anonymous`. */
export interface Actor {
  actor: string;
  ip: string | null;
}

export const CLI_ACTOR: Actor = { actor: 'cli', ip: null };

/** What recording needs; the CLI has no metrics and logs nothing. */
export interface AuditSink {
  store: Store;
  now: () => number;
  logger?: Logger;
  metrics?: Metrics;
}

export interface AuditFields {
  clientId?: string | null;
  userId?: string | null;
  detail?: AuditEvent['detail'];
}

/** Events an operator should look at now; the rest are logged at info. */
const WARNINGS = new Set<AuditEventType>(['signin.locked', 'refresh.reuse_detected', 'rate_limit.exceeded']);

/**
 * Records a security event in the store (queryable through the CLI and the admin API) and emits it as
 * one structured log line, `msg: "audit"`. Details name things, never secrets.
 */
export async function recordAudit(sink: AuditSink, type: AuditEventType, by: Actor, fields: AuditFields = {}): Promise<AuditEvent> {
  const event: AuditEvent = {
    id: newId(),
    type,
    at: sink.now(),
    actor: by.actor,
    clientId: fields.clientId ?? null,
    userId: fields.userId ?? null,
    ip: by.ip,
    detail: fields.detail ?? {},
  };
  await sink.store.audit.record(event);
  sink.metrics?.auditEvents.inc({ type });
  const line = { audit: { id: event.id, type, actor: event.actor, clientId: event.clientId, userId: event.userId, ip: event.ip, detail: event.detail } };
  if (WARNINGS.has(type)) sink.logger?.warn(line, 'audit');
  else sink.logger?.info(line, 'audit');
  return event;
}
