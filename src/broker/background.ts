import type { ServerContext } from '../server/context.js';
import { BrokerError } from './errors.js';

const BATCH = 50;

/**
 * The background refresher: connections inside their margin are refreshed before anyone asks, through
 * the same path as on-demand requests (so the two never both go to the provider). Failures are
 * recorded on the connection by the refresher, with backoff for the next try.
 */
export async function refreshDueConnections(ctx: ServerContext): Promise<number> {
  const due = await ctx.store.connections.dueForRefresh(ctx.now(), BATCH);
  for (const connection of due) {
    try {
      await ctx.refresher.refresh(connection.id);
    } catch (err) {
      if (!(err instanceof BrokerError)) ctx.logger.error({ connectionId: connection.id, err: { message: (err as Error).message } }, 'background refresh failed');
    }
  }
  return due.length;
}
