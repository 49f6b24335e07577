import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store.js';

/**
 * The Prometheus metrics of one process. Each server has its own registry (not prom-client's global
 * one), so that several servers in one process, as in tests, count apart.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP requests answered, by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'latchkey_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route pattern and method.',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly tokensIssued = new Counter({
    name: 'latchkey_tokens_issued_total',
    help: 'Token responses issued by the token endpoint, by grant type.',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });

  readonly tokenErrors = new Counter({
    name: 'latchkey_token_errors_total',
    help: 'Token requests refused, by grant type and OAuth error code.',
    labelNames: ['grant_type', 'error'] as const,
    registers: [this.registry],
  });

  readonly refreshFailures = new Counter({
    name: 'latchkey_refresh_failures_total',
    help: 'Refresh token grants refused, by reason (invalid, reuse_detected).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly throttled = new Counter({
    name: 'latchkey_throttled_requests_total',
    help: 'Requests refused with 429 by a rate limit, by limit.',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  readonly signIns = new Counter({
    name: 'latchkey_sign_ins_total',
    help: 'Sign-in attempts, by outcome (signed_in, invalid, throttled).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly auditEvents = new Counter({
    name: 'latchkey_audit_events_total',
    help: 'Security events recorded in the audit trail, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  readonly brokerRefreshes = new Counter({
    name: 'latchkey_broker_refreshes_total',
    help: 'Refreshes of connections at their providers, by outcome (refreshed, needs_reauth, failed, discarded).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDeliveries = new Counter({
    name: 'latchkey_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retrying, failed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

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

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
