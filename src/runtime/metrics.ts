import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';

/**
 * The Prometheus metrics of one process. Each server has its own registry (not prom-client's global
 * one), so that several servers in one process, as in tests, count apart.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = this.counter('latchkey_http_requests_total', 'HTTP requests answered, by route pattern, method and status.', ['route', 'method', 'status']);

  readonly httpDuration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly tokensIssued = this.counter('latchkey_tokens_issued_total', 'Token responses issued by the token endpoint, by grant type.', ['grant_type']);

  readonly tokenErrors = this.counter('latchkey_token_errors_total', 'Token requests refused, by grant type and OAuth error code.', ['grant_type', 'error']);

  readonly refreshFailures = this.counter('latchkey_refresh_failures_total', 'Refresh token grants refused, by reason (invalid, reuse_detected).', ['reason']);

  readonly throttled = this.counter('latchkey_throttled_requests_total', 'Requests refused with 429 by a rate limit, by limit.', ['limit']);

  readonly signIns = this.counter('latchkey_sign_ins_total', 'Sign-in attempts, by outcome (signed_in, invalid, throttled).', ['outcome']);

  readonly auditEvents = this.counter('latchkey_audit_events_total', 'Security events recorded in the audit trail, by type.', ['type']);

  readonly brokerRefreshes = this.counter('latchkey_broker_refreshes_total', 'Refreshes of connections at their providers, by outcome (refreshed, needs_reauth, failed, discarded).', ['outcome']);

  readonly webhookDeliveries = this.counter('latchkey_webhook_deliveries_total', 'Webhook delivery attempts, by outcome (delivered, retrying, failed).', ['outcome']);

  constructor(store: Store) {
    collectDefaultMetrics({ register: this.registry, prefix: 'latchkey_' });
    new Gauge({
      name: 'latchkey_db_pool_connections',
      help: 'Database pool connections, by state (total, idle, waiting); PostgreSQL only.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const pool = store.poolState();
        if (!pool) return;
        this.set({ state: 'total' }, pool.total);
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
  }

  /** A counter in this process's registry. */
  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
