import { CLI_ACTOR } from '../server/audit.js';
import type { Command } from 'commander';
import { createPortalConnection, credentialsFor, findConnection, getConnection, issuePortalLink, listConnections, revokeConnection } from '../broker/connections.js';
import { BrokerError } from '../broker/errors.js';
import { connectionView } from '../broker/views.js';
import type { ServerContext } from '../server/context.js';
import type { ConnectionRecord } from '../store/records.js';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

interface ConnectionOptions extends StoreOptions {
  userId?: string;
  appId?: string;
}

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the link just issued has been used to authorize the connection, showing on stderr that
 * it waits (stdout stays the result's). An authorization ends the link (its expiry becomes the moment
 * of use), which tells a new consent from an earlier one on a connection that was active already.
 */
async function waitForAuthorization(ctx: ServerContext, issued: ConnectionRecord, timeoutMs: number) {
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  const deadline = Date.now() + timeoutMs;
  // An animated line for a person at a terminal; one plain line for a pipe or a log.
  const animate = process.stderr.isTTY;
  if (!animate) process.stderr.write(`waiting for the provider to send you back (up to ${Math.round(timeoutMs / 1000)} s)…\n`);
  for (let i = 0; Date.now() < deadline; i++) {
    const connection = await ctx.store.connections.get(issued.id);
    if (!connection) throw new BrokerError('not_found', 'the connection was deleted while waiting');
    const linkUsed = connection.portalTokenHash === issued.portalTokenHash && connection.portalExpiresAt !== issued.portalExpiresAt;
    if (connection.status === 'active' && linkUsed) {
      if (animate) process.stderr.write('\r\x1b[K');
      return connection;
    }
    if (animate) process.stderr.write(`\r${frames[i % frames.length]} waiting for the provider to send you back… (${Math.ceil((deadline - Date.now()) / 1000)} s left, Ctrl-C to stop)`);
    await sleep(POLL_MS);
  }
  if (animate) process.stderr.write('\n');
  throw new BrokerError('pending', 'no authorization arrived in time; run the command again for a new link');
}

export function registerConnectionCommands(program: Command): void {
  const connections = program.command('connections').description('users’ connections to third-party providers');

  storeOptions(connections.command('auth').argument('<name>', 'provider name').description('print a link to authorize a connection, and wait for the callback'))
    .option('--user-id <id>', 'whose connection it is (any string of yours)')
    .option('--app-id <id>', 'the app it belongs to')
    .option('--issuer <url>', 'the running server’s URL (env LATCHKEY_ISSUER, default http://localhost:8080)')
    .option('--timeout <seconds>', 'how long to wait', '600')
    .action(async (name: string, opts: ConnectionOptions & { timeout: string }) => {
      const timeoutMs = Number(opts.timeout) * 1000;
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new BrokerError('invalid_request', '--timeout must be a positive number of seconds');
      const result = await withContext(opts, async (ctx) => {
        const userId = opts.userId ?? null;
        const appId = opts.appId ?? null;
        const connection =
          (await ctx.store.connections.find(name, userId, appId)) ?? (await createPortalConnection(ctx, { providerName: name, userId, appId, config: {} }));
        if (connection.source === 'client_credentials') throw new BrokerError('invalid_request', 'a client-credentials connection needs no authorization');
        const url = await issuePortalLink(ctx, connection);
        const issued = await getConnection(ctx, connection.id);
        if (opts.json) process.stderr.write(`Open this link in a browser:\n${url}\n`);
        else process.stdout.write(`Open this link in a browser:\n\n  ${url}\n\n`);
        return connectionView(await waitForAuthorization(ctx, issued, timeoutMs));
      });
      emit(opts, result, (c) => process.stdout.write(`connected: ${c.provider_name} (${c.id}), scopes ${c.scopes.join(' ') || '-'}\n`));
    });

  storeOptions(connections.command('list').description('list connections (never their tokens)'))
    .option('--user-id <id>', 'only this user’s')
    .option('--app-id <id>', 'only this app’s')
    .option('--provider <name>', 'only this provider’s')
    .action(async (opts: ConnectionOptions & { provider?: string }) => {
      const list = await withContext(opts, async (ctx) =>
        (
          await listConnections(ctx, {
            ...(opts.userId !== undefined && { userId: opts.userId }),
            ...(opts.appId !== undefined && { appId: opts.appId }),
            ...(opts.provider !== undefined && { providerName: opts.provider }),
          })
        ).map(connectionView),
      );
      emit(opts, list, (rows) => printTable(rows, ['id', 'provider_name', 'user_id', 'app_id', 'status', 'scopes', 'expires_at']));
    });

  storeOptions(connections.command('revoke').argument('<name>', 'provider name').description('revoke a connection at the provider and delete it'))
    .option('--user-id <id>', 'whose connection')
    .option('--app-id <id>', 'which app’s')
    .action(async (name: string, opts: ConnectionOptions) => {
      const result = await withContext(opts, async (ctx) => {
        const connection = await findConnection(ctx, name, opts.userId ?? null, opts.appId ?? null);
        const { provider_revoked } = await revokeConnection(ctx, connection, CLI_ACTOR);
        return { success: true, id: connection.id, provider_revoked };
      });
      emit(opts, result, printRecord);
    });

  storeOptions(connections.command('token').argument('<name>', 'provider name').description('print fresh credentials (refreshed first if needed)'))
    .option('--user-id <id>', 'whose connection')
    .option('--app-id <id>', 'which app’s')
    .action(async (name: string, opts: ConnectionOptions) => {
      const credentials = await withContext(opts, (ctx) => credentialsFor(ctx, name, opts.userId ?? null, opts.appId ?? null));
      emit(opts, credentials, printRecord);
    });
}
