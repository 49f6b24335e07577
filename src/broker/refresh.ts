import { randomBytes } from 'node:crypto';
import type { ServerContext } from '../server/context.js';
import type { ConnectionRecord, LockLease } from '../store/records.js';
import { BrokerError } from './errors.js';
import { recordEvent } from './events.js';
import { providerSettings } from './provider-settings.js';
import { ProviderRejected, ProviderUnreachable, requestTokens } from './token-client.js';
import { openToken, tokenColumns } from './token-state.js';

const MAX_BACKOFF_MS = 3600_000;
const POLL_MS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether the connection's access token must be renewed before it is handed out: it has none, its
 * refresh time has come, or it has expired (without a refresh token that ends in needs_reauth).
 */
export function needsRefresh(c: ConnectionRecord, now: number): boolean {
  return c.accessTokenSealed === null || (c.refreshAt !== null && now >= c.refreshAt) || (c.expiresAt !== null && now >= c.expiresAt);
}

/** The delay before retry number `failures` (1, 2, …) after an outage: doubling, capped at an hour. */
export function backoffMs(baseMs: number, failures: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, failures - 1));
}

/** Another process took the refresh lock over while this one was at the provider. */
class LockLost extends Error {}

/**
 * Refreshes connections exactly once, however many callers ask in however many processes:
 * callers in one process share one promise per connection; processes take the connection's lock in
 * the database and re-read the connection once they hold it (another may have refreshed meanwhile);
 * the lease is renewed while the provider answers, and the write of the new tokens is refused unless
 * the lock is still this process's (its fencing token unchanged), so a refresh that outlived its
 * lease can never overwrite a newer one.
 */
export class Refresher {
  private readonly inflight = new Map<string, Promise<ConnectionRecord>>();
  private readonly owner = `${process.pid}:${randomBytes(6).toString('hex')}`;

  constructor(private readonly ctx: ServerContext) {}

  /** Refreshes now (if still needed once the lock is held) and returns the connection as stored. */
  refresh(connectionId: string): Promise<ConnectionRecord> {
    const running = this.inflight.get(connectionId);
    if (running) return running;
    const started = this.refreshUnderLock(connectionId).finally(() => this.inflight.delete(connectionId));
    this.inflight.set(connectionId, started);
    return started;
  }

  private async refreshUnderLock(connectionId: string): Promise<ConnectionRecord> {
    const { store, config } = this.ctx;
    const lockMs = config.broker.refreshLockMs;
    const name = `refresh:${connectionId}`;
    const deadline = Date.now() + lockMs + config.broker.credentialWaitMs;
    for (;;) {
      const current = await this.read(connectionId);
      if (!needsRefresh(current, this.ctx.now()) || current.status !== 'active') return current;
      const lease = await store.locks.acquire(name, this.owner, lockMs);
      if (lease) {
        try {
          return await this.refreshHolding(connectionId, lease);
        } finally {
          await store.locks.release(lease).catch(() => undefined);
        }
      }
      // Someone else refreshes it: wait for their result rather than asking the provider twice.
      if (Date.now() > deadline) throw new BrokerError('provider_unavailable', 'the connection is being refreshed elsewhere; try again');
      await sleep(POLL_MS);
    }
  }

  private async read(connectionId: string): Promise<ConnectionRecord> {
    const connection = await this.ctx.store.connections.get(connectionId);
    if (!connection) throw new BrokerError('not_found', 'no such connection');
    return connection;
  }

  private async refreshHolding(connectionId: string, lease: LockLease): Promise<ConnectionRecord> {
    const { store, config, logger } = this.ctx;
    // Re-read under the lock: the holder before us may have refreshed it already.
    const connection = await this.read(connectionId);
    if (!needsRefresh(connection, this.ctx.now()) || connection.status !== 'active') return connection;
    const provider = await store.providers.get(connection.providerId);
    if (!provider) throw new BrokerError('not_found', 'the connection’s provider is no longer registered');
    const settings = providerSettings(provider);

    const refreshToken = openToken(this.ctx, connection, 'refresh');
    if (provider.grantType === 'authorization_code' && refreshToken === null) {
      return this.markNeedsReauth(connection, lease, 'no refresh token: the provider must be authorized again');
    }
    const params: Record<string, string> =
      provider.grantType === 'client_credentials'
        ? { grant_type: 'client_credentials', ...(provider.scopes.length > 0 && { scope: provider.scopes.join(provider.scopeSeparator === ',' ? ',' : ' ') }) }
        : { grant_type: 'refresh_token', refresh_token: refreshToken! };

    const heartbeat = setInterval(() => void store.locks.renew(lease, config.broker.refreshLockMs).catch(() => undefined), config.broker.refreshLockMs / 3);
    heartbeat.unref();
    try {
      const tokens = await requestTokens(this.ctx, settings, connection.config, params);
      const now = this.ctx.now();
      const refreshed = await this.guardedWrite(lease, async (tx) => {
        const updated = await tx.connections.update(connection.id, tokenColumns(this.ctx, settings, connection, tokens, now));
        if (!updated) throw new BrokerError('not_found', 'the connection was revoked during the refresh');
        return updated;
      });
      this.ctx.metrics.brokerRefreshes.inc({ outcome: 'refreshed' });
      return refreshed;
    } catch (err) {
      if (err instanceof LockLost) {
        logger.warn({ connectionId, fence: lease.fence }, 'refresh outlived its lock; its result was discarded');
        this.ctx.metrics.brokerRefreshes.inc({ outcome: 'discarded' });
        const latest = await this.read(connectionId);
        if (!needsRefresh(latest, this.ctx.now())) return latest;
        throw new BrokerError('provider_unavailable', 'the refresh did not complete; try again');
      }
      if (err instanceof ProviderRejected && err.error === 'invalid_grant') {
        return this.markNeedsReauth(connection, lease, 'the provider refused the refresh token (invalid_grant)');
      }
      if (err instanceof ProviderRejected || err instanceof ProviderUnreachable) {
        const failures = connection.failureCount + 1;
        const now = this.ctx.now();
        logger.warn({ connectionId, provider: provider.name, failures, reason: err.message }, 'refresh failed; will retry');
        this.ctx.metrics.brokerRefreshes.inc({ outcome: 'failed' });
        await this.guardedWrite(lease, (tx) =>
          tx.connections.update(connection.id, {
            failureCount: failures,
            nextAttemptAt: now + backoffMs(config.broker.retryBaseMs, failures),
            lastError: err.message,
            updatedAt: now,
          }),
        ).catch(() => undefined);
        throw new BrokerError('provider_unavailable', 'the provider could not be reached; try again later');
      }
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async markNeedsReauth(connection: ConnectionRecord, lease: LockLease, reason: string): Promise<never> {
    const now = this.ctx.now();
    await this.guardedWrite(lease, async (tx) => {
      const updated = await tx.connections.update(connection.id, { status: 'needs_reauth', lastError: reason, refreshAt: null, nextAttemptAt: null, updatedAt: now });
      if (updated) await recordEvent(tx, 'connection.refresh_failed', updated, now);
    });
    this.ctx.logger.warn({ connectionId: connection.id, provider: connection.providerName }, 'connection needs to be authorized again');
    this.ctx.metrics.brokerRefreshes.inc({ outcome: 'needs_reauth' });
    throw new BrokerError('needs_reauth', 'the connection must be authorized again');
  }

  /** Writes only while the lease is still ours: the fencing check and the write share a transaction. */
  private guardedWrite<T>(lease: LockLease, write: (tx: import('../store/store.js').Store) => Promise<T>): Promise<T> {
    return this.ctx.store.transaction(async (tx) => {
      if (!(await tx.locks.isHeld(lease))) throw new LockLost();
      return write(tx);
    });
  }
}
