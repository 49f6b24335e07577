import type { Config } from '../config.js';
import type { SigningKeys } from '../crypto/signing-keys.js';
import type { Logger } from 'pino';
import type { Metrics } from '../runtime/metrics.js';
import { CLI_ACTOR, recordAudit, type Actor, type AuditFields } from '../server/audit.js';
import type { AuditEventType } from '../store/records.js';
import type { Store } from '../store/store.js';

/** What management operations need; both the CLI and the admin REST API provide it. */
export interface AdminContext {
  config: Config;
  store: Store;
  keys: SigningKeys;
  now: () => number;
  logger?: Logger;
  metrics?: Metrics;
  /** Who is acting: the API key and address of a REST call; the CLI when absent. */
  actor?: Actor;
}

/** Records a management change in the audit trail, attributed to whoever acts through `ctx`. */
export function auditChange(ctx: AdminContext, type: AuditEventType, fields: AuditFields = {}): Promise<unknown> {
  return recordAudit(ctx, type, ctx.actor ?? CLI_ACTOR, fields);
}

/** A management request that cannot be carried out; `code` is stable for scripts to branch on. */
export class AdminError extends Error {
  constructor(
    readonly code: 'invalid_request' | 'not_found' | 'conflict',
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return this.code === 'not_found' ? 404 : this.code === 'conflict' ? 409 : 400;
  }
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Unique-constraint violations of either database, told apart from other failures. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
