import { recordAudit, type Actor } from '../server/audit.js';
import { newId, randomToken, hashSecret } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import type { ConnectionFilter } from '../store/broker-store.js';
import type { ConnectionRecord } from '../store/records.js';
import { sealContext } from '../store/sealed-columns.js';
import { freshCredentials, type CredentialsView } from './credentials.js';
import { BrokerError } from './errors.js';
import { recordEvent } from './events.js';
import { oauth, oauthOptions, authorizationServerOf } from './oauth-client.js';
import { isUniqueViolation } from '../admin/context.js';
import { providerSettings, providerUrl } from './provider-settings.js';
import { providerFor } from './providers.js';
import { openToken } from './token-state.js';

/** How long a portal link works before the customer must be sent a new one (SPEC: 24 hours). */
const PORTAL_LINK_MS = 24 * 3600_000;

export function listConnections(ctx: ServerContext, filter: ConnectionFilter): Promise<ConnectionRecord[]> {
  return ctx.store.connections.list(filter);
}

export async function findConnection(ctx: ServerContext, providerName: string, userId: string | null, appId: string | null): Promise<ConnectionRecord> {
  const connection = await ctx.store.connections.find(providerName, userId, appId);
  if (!connection) throw new BrokerError('not_found', 'no such connection');
  return connection;
}

/**
 * Revokes the connection at the provider (RFC 7009, refresh token then access token, each with its
 * `token_type_hint`), then deletes it here whatever the provider said. `provider_revoked` is true
 * only when the provider confirmed every revocation.
 */
export async function revokeConnection(ctx: ServerContext, connection: ConnectionRecord, by: Actor): Promise<{ provider_revoked: boolean }> {
  const provider = await ctx.store.providers.get(connection.providerId);
  let providerRevoked = false;
  if (provider?.revokeUrl && connection.accessTokenSealed !== null) {
    const settings = providerSettings(provider);
    providerRevoked = true;
    try {
      const revokeUrl = providerUrl(settings, provider.revokeUrl, connection.config);
      const as = authorizationServerOf(provider, null, revokeUrl);
      const secret = ctx.masterKeys.open(provider.clientSecretSealed, sealContext('providers.client_secret_sealed', provider.id));
      const auth = provider.authMethod === 'client_secret_post' ? oauth.ClientSecretPost(secret) : oauth.ClientSecretBasic(secret);
      const tokens: [string | null, string][] = [
        [openToken(ctx, connection, 'refresh'), 'refresh_token'],
        [openToken(ctx, connection, 'access'), 'access_token'],
      ];
      for (const [token, hint] of tokens) {
        if (token === null) continue;
        const response = await oauth.revocationRequest(as, { client_id: provider.clientId }, auth, token, {
          additionalParameters: { token_type_hint: hint },
          ...oauthOptions,
        });
        await oauth.processRevocationResponse(response);
      }
    } catch (err) {
      providerRevoked = false;
      ctx.logger.warn({ connectionId: connection.id, provider: connection.providerName, reason: (err as Error).message }, 'revocation at the provider failed');
    }
  }
  const now = ctx.now();
  await ctx.store.transaction(async (tx) => {
    if (!(await tx.connections.delete(connection.id))) return;
    await recordEvent(tx, 'connection.revoked', connection, now);
    await recordAudit({ ...ctx, store: tx }, 'connection.revoked', by, {
      userId: connection.userId,
      detail: { connection_id: connection.id, provider: connection.providerName, app_id: connection.appId, provider_revoked: providerRevoked },
    });
  });
  return { provider_revoked: providerRevoked };
}

/** Credentials of a connection named by provider, user and app; client-credentials connections are made on first request. */
export async function credentialsFor(ctx: ServerContext, providerName: string, userId: string | null, appId: string | null): Promise<CredentialsView> {
  const provider = await providerFor(ctx, providerName, appId);
  if (provider.grantType === 'client_credentials') {
    if (userId !== null) throw new BrokerError('invalid_request', 'a client-credentials provider has no users: leave out user_id');
    return freshCredentials(ctx, await clientCredentialsConnection(ctx, provider.id, providerName, appId));
  }
  return freshCredentials(ctx, await findConnection(ctx, providerName, userId, appId));
}

async function clientCredentialsConnection(ctx: ServerContext, providerId: string, providerName: string, appId: string | null): Promise<ConnectionRecord> {
  const existing = await ctx.store.connections.find(providerName, null, appId);
  if (existing) return existing;
  const now = ctx.now();
  const connection = blankConnection({ providerId, providerName, userId: null, appId, source: 'client_credentials', status: 'active', now });
  try {
    await ctx.store.connections.create(connection);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  return (await ctx.store.connections.find(providerName, null, appId))!;
}

export function blankConnection(c: Pick<ConnectionRecord, 'providerId' | 'providerName' | 'userId' | 'appId' | 'source' | 'status'> & { now: number; config?: Record<string, string> }): ConnectionRecord {
  return {
    id: newId('conn_'),
    providerId: c.providerId,
    providerName: c.providerName,
    userId: c.userId,
    appId: c.appId,
    source: c.source,
    status: c.status,
    scopes: [],
    accessTokenSealed: null,
    refreshTokenSealed: null,
    tokenType: null,
    expiresAt: null,
    refreshAt: null,
    accountId: null,
    accountEmail: null,
    config: c.config ?? {},
    oauth2RedirectUrl: null,
    portalTokenHash: null,
    portalTokenSealed: null,
    portalExpiresAt: null,
    failureCount: 0,
    nextAttemptAt: null,
    lastError: null,
    authorizedAt: null,
    createdAt: c.now,
    updatedAt: c.now,
  };
}

/** A new portal link for the connection; any earlier one stops working. */
export async function issuePortalLink(ctx: ServerContext, connection: ConnectionRecord): Promise<string> {
  const token = randomToken(32);
  const now = ctx.now();
  await ctx.store.connections.update(connection.id, {
    portalTokenHash: hashSecret(token),
    portalTokenSealed: ctx.masterKeys.seal(token, sealContext('connections.portal_token_sealed', connection.id)),
    portalExpiresAt: now + PORTAL_LINK_MS,
    updatedAt: now,
  });
  return `${ctx.config.issuer}/connect/${token}`;
}

/** The portal link of a connection: the live one again, or a new one when there is none or it ended. */
export async function portalLink(ctx: ServerContext, connection: ConnectionRecord): Promise<string> {
  const live = connection.portalTokenSealed !== null && connection.portalExpiresAt !== null && connection.portalExpiresAt > ctx.now();
  if (live && connection.status !== 'active') {
    return `${ctx.config.issuer}/connect/${ctx.masterKeys.open(connection.portalTokenSealed!, sealContext('connections.portal_token_sealed', connection.id))}`;
  }
  return issuePortalLink(ctx, connection);
}

/** Creates a portal connection waiting for the customer's consent. */
export async function createPortalConnection(
  ctx: ServerContext,
  input: { providerName: string; userId: string | null; appId: string | null; config: Record<string, string> },
): Promise<ConnectionRecord> {
  const provider = await providerFor(ctx, input.providerName, input.appId);
  if (provider.grantType === 'client_credentials') throw new BrokerError('invalid_request', 'a client-credentials provider needs no authorization: fetch its credentials directly');
  const settings = providerSettings(provider);
  const missing = settings.connectionVariables.filter((v) => !(v in input.config));
  if (missing.length > 0) throw new BrokerError('invalid_request', `connection_config needs ${missing.join(', ')} for ${provider.name}`);
  // A value that would move a provider URL to another host (`evil.com/x`) is refused now, not when the link is opened.
  try {
    for (const url of [provider.authorizeUrl, provider.tokenUrl, provider.revokeUrl, provider.userinfoUrl]) if (url !== null) providerUrl(settings, url, input.config);
  } catch (err) {
    throw new BrokerError('invalid_request', `connection_config: ${(err as Error).message}`);
  }
  const connection = blankConnection({ ...input, providerId: provider.id, source: 'portal', status: 'pending', now: ctx.now() });
  try {
    await ctx.store.connections.create(connection);
  } catch (err) {
    if (isUniqueViolation(err)) throw new BrokerError('conflict', 'a connection for this provider, user and app exists already');
    throw err;
  }
  return connection;
}

export async function getConnection(ctx: ServerContext, id: string): Promise<ConnectionRecord> {
  const connection = await ctx.store.connections.get(id);
  if (!connection) throw new BrokerError('not_found', 'no such connection');
  return connection;
}
