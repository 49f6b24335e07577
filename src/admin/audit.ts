import { AUDIT_EVENT_TYPES, type AuditEvent } from '../store/records.js';
import { AdminError, iso, type AdminContext } from './context.js';

export interface AuditEventView {
  id: string;
  type: string;
  at: string;
  actor: string;
  client_id?: string;
  user_id?: string;
  ip?: string;
  detail: AuditEvent['detail'];
}

const auditEventView = (e: AuditEvent): AuditEventView => ({
  id: e.id,
  type: e.type,
  at: iso(e.at)!,
  actor: e.actor,
  ...(e.clientId !== null && { client_id: e.clientId }),
  ...(e.userId !== null && { user_id: e.userId }),
  ...(e.ip !== null && { ip: e.ip }),
  detail: e.detail,
});

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

export interface AuditFilter {
  type?: string | undefined;
  /** ISO 8601. */
  since?: string | undefined;
  limit?: number | undefined;
}

/** Security events, newest first, optionally of one type and from a time on. */
export async function listAuditEvents(ctx: AdminContext, filter: AuditFilter): Promise<AuditEventView[]> {
  if (filter.type !== undefined && !(AUDIT_EVENT_TYPES as readonly string[]).includes(filter.type)) {
    throw new AdminError('invalid_request', `unknown event type; use one of ${AUDIT_EVENT_TYPES.join(', ')}`);
  }
  let since: number | undefined;
  if (filter.since !== undefined) {
    // A date alone is UTC midnight; a time must say its zone, so it never depends on the machine's.
    since = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(filter.since) ? Date.parse(filter.since) : NaN;
    if (Number.isNaN(since)) throw new AdminError('invalid_request', 'since must be an ISO 8601 date or time with its zone, such as 2026-01-31 or 2026-01-31T12:00:00Z');
  }
  const limit = filter.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw new AdminError('invalid_request', `limit must be a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
  const events = await ctx.store.audit.list({ ...(filter.type !== undefined && { type: filter.type }), ...(since !== undefined && { since }), limit });
  return events.map(auditEventView);
}
