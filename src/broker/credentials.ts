import type { ServerContext } from '../server/context.js';
import type { ConnectionRecord } from '../store/records.js';
import { BrokerError } from './errors.js';
import { needsRefresh } from './refresh.js';
import { openToken } from './token-state.js';

export interface CredentialsView {
  access_token: string;
  token_type: string;
  expires_at: string | null;
  expires_in: number | null;
  scopes: string[];
  connection_id: string;
  /** Non-secret values the caller needs with the token, such as Salesforce's instance_url. */
  connection_config: Record<string, string>;
}

const WAITED_TOO_LONG = Symbol('timeout');

function credentialsOf(ctx: ServerContext, c: ConnectionRecord): CredentialsView {
  const now = ctx.now();
  return {
    access_token: openToken(ctx, c, 'access')!,
    token_type: c.tokenType ?? 'Bearer',
    expires_at: c.expiresAt === null ? null : new Date(c.expiresAt).toISOString(),
    expires_in: c.expiresAt === null ? null : Math.max(0, Math.floor((c.expiresAt - now) / 1000)),
    scopes: c.scopes,
    connection_id: c.id,
    connection_config: c.config,
  };
}

const usable = (c: ConnectionRecord, now: number) => c.accessTokenSealed !== null && (c.expiresAt === null || c.expiresAt > now);

/**
 * A fresh access token for the connection: refreshed first when it is inside the margin. A caller
 * waits at most the SPEC's 5 s in all. When the provider cannot be reached but the token in hand has
 * not yet expired, that token is handed out rather than an error, and the background refresher keeps
 * trying.
 */
export async function freshCredentials(ctx: ServerContext, connection: ConnectionRecord): Promise<CredentialsView> {
  if (connection.status === 'pending') throw new BrokerError('pending', 'the connection has not been authorized yet');
  if (connection.status === 'needs_reauth') throw new BrokerError('needs_reauth', 'the connection must be authorized again');
  if (!needsRefresh(connection, ctx.now())) return credentialsOf(ctx, connection);
  // During an outage's backoff a token still good is handed out without asking the provider again.
  if (connection.nextAttemptAt !== null && connection.nextAttemptAt > ctx.now() && usable(connection, ctx.now())) return credentialsOf(ctx, connection);

  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<typeof WAITED_TOO_LONG>((resolve) => {
    timer = setTimeout(() => resolve(WAITED_TOO_LONG), ctx.config.broker.credentialWaitMs);
  });
  const refreshing = ctx.refresher.refresh(connection.id);
  // The refresh goes on after a caller gave up waiting; its failure is recorded by the refresher.
  refreshing.catch(() => undefined);
  try {
    const outcome = await Promise.race([refreshing, waited]);
    if (outcome !== WAITED_TOO_LONG) {
      if (outcome.status === 'needs_reauth') throw new BrokerError('needs_reauth', 'the connection must be authorized again');
      if (usable(outcome, ctx.now())) return credentialsOf(ctx, outcome);
    }
  } catch (err) {
    if (!(err instanceof BrokerError) || err.code !== 'provider_unavailable') throw err;
  } finally {
    clearTimeout(timer);
  }
  if (usable(connection, ctx.now())) return credentialsOf(ctx, connection);
  throw new BrokerError('provider_unavailable', 'the provider could not be reached; try again later');
}
