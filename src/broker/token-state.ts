import type { ServerContext } from '../server/context.js';
import type { ConnectionPatch } from '../store/broker-store.js';
import type { ConnectionRecord } from '../store/records.js';
import { sealContext } from '../store/sealed-columns.js';
import type { ProviderSettings } from './provider-settings.js';
import type { TokenSet } from './token-client.js';

/** The SPEC's refresh margin: 5 minutes, or half the token's lifetime when that is shorter. */
const MARGIN_MS = 5 * 60_000;
/** Tokens whose lifetime the provider does not tell are refreshed this often. */
const UNREPORTED_REFRESH_MS = 24 * 3600_000;

/** When a token obtained at `now` should be refreshed, or null when it never needs to be. */
export function refreshTime(settings: ProviderSettings, tokens: Pick<TokenSet, 'expiresIn'>, hasRefreshToken: boolean, now: number): number | null {
  const canRenew = hasRefreshToken || settings.record.grantType === 'client_credentials';
  if (tokens.expiresIn !== null) {
    const lifetimeMs = tokens.expiresIn * 1000;
    return canRenew ? now + lifetimeMs - Math.min(MARGIN_MS, lifetimeMs / 2) : null;
  }
  if (settings.expiry === 'never' || !canRenew) return null;
  return now + UNREPORTED_REFRESH_MS;
}

/**
 * The connection's columns for a new token set, sealed. Without a new refresh token the old one is
 * kept (providers that do not rotate send none), sealed again under the current master key: the
 * value read before the provider was called may be under a key that `secrets rotate` has retired
 * meanwhile, and writing it back would undo the rotation.
 */
export function tokenColumns(ctx: ServerContext, settings: ProviderSettings, connection: Pick<ConnectionRecord, 'id' | 'refreshTokenSealed' | 'scopes' | 'config'>, tokens: TokenSet, now: number): ConnectionPatch {
  const seal = (value: string, column: 'connections.access_token_sealed' | 'connections.refresh_token_sealed') =>
    ctx.masterKeys.seal(value, sealContext(column, connection.id));
  const keptRefreshToken = connection.refreshTokenSealed && ctx.masterKeys.open(connection.refreshTokenSealed, sealContext('connections.refresh_token_sealed', connection.id));
  const newestRefreshToken = tokens.refreshToken ?? keptRefreshToken;
  const refreshTokenSealed = newestRefreshToken ? seal(newestRefreshToken, 'connections.refresh_token_sealed') : null;
  return {
    status: 'active',
    accessTokenSealed: seal(tokens.accessToken, 'connections.access_token_sealed'),
    refreshTokenSealed,
    tokenType: tokens.tokenType,
    scopes: tokens.scopes ?? connection.scopes,
    expiresAt: tokens.expiresIn !== null ? now + tokens.expiresIn * 1000 : null,
    refreshAt: refreshTime(settings, tokens, refreshTokenSealed !== null, now),
    config: { ...connection.config, ...tokens.fields },
    failureCount: 0,
    nextAttemptAt: null,
    lastError: null,
    updatedAt: now,
  };
}

export function openToken(ctx: ServerContext, connection: ConnectionRecord, which: 'access' | 'refresh'): string | null {
  const sealed = which === 'access' ? connection.accessTokenSealed : connection.refreshTokenSealed;
  if (sealed === null) return null;
  return ctx.masterKeys.open(sealed, sealContext(which === 'access' ? 'connections.access_token_sealed' : 'connections.refresh_token_sealed', connection.id));
}
