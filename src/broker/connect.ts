import { hashSecret } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import type { ConnectionRecord, OAuthStateRecord, ProviderRecord } from '../store/records.js';
import { sealContext } from '../store/sealed-columns.js';
import type { Store } from '../store/store.js';
import { blankConnection } from './connections.js';
import { BrokerError } from './errors.js';
import { recordEvent } from './events.js';
import { authorizationServerOf, oauth } from './oauth-client.js';
import { providerSettings, providerUrl, type ProviderSettings } from './provider-settings.js';
import { defaultRedirectUri } from './providers.js';
import { accountIdentity, ProviderRejected, ProviderUnreachable, requestTokens } from './token-client.js';
import { tokenColumns } from './token-state.js';

/** How long a user has to come back from the provider (SPEC: 10 minutes). */
const STATE_TTL_MS = 10 * 60_000;

export interface FlowStart {
  provider: ProviderRecord;
  /** The browser-binding cookie's value; the state keeps only its hash. */
  binding: string;
  userId: string | null;
  appId: string | null;
  returnTo: string | null;
  /** The portal connection being authorized, or null for a signed-in user's flow. */
  connectionId: string | null;
  /** Values for the provider URLs' per-connection placeholders. */
  config: Record<string, string>;
}

const redirectUriOf = (ctx: ServerContext, provider: ProviderRecord) => provider.redirectUri ?? defaultRedirectUri(ctx, provider.name);

/** Separators as they go into a URL: '+' is a form-encoded space. */
const joinScopes = (p: ProviderRecord) => p.scopes.join(p.scopeSeparator === ',' ? ',' : ' ');

/**
 * Starts an authorization at the provider: a random single-use state bound to this browser, PKCE
 * S256 (unless the provider is registered without it), and the provider's extra parameters. Returns
 * the URL to send the browser to.
 */
export async function startAuthorization(ctx: ServerContext, flow: FlowStart): Promise<string> {
  const settings = providerSettings(flow.provider);
  const missing = settings.connectionVariables.filter((v) => !(v in flow.config));
  if (missing.length > 0) throw new BrokerError('invalid_request', `${flow.provider.name} needs ${missing.join(', ')}`);
  // Only the URLs' own placeholders are kept: other query parameters must not become connection_config.
  const config = Object.fromEntries(Object.entries(flow.config).filter(([name]) => settings.connectionVariables.includes(name)));
  const authorizeUrl = new URL(providerUrl(settings, flow.provider.authorizeUrl!, config));
  const state = oauth.generateRandomState();
  const stateHash = hashSecret(state);
  const verifier = flow.provider.pkce ? oauth.generateRandomCodeVerifier() : null;
  const now = ctx.now();
  await ctx.store.oauthStates.create({
    stateHash,
    providerId: flow.provider.id,
    connectionId: flow.connectionId,
    userId: flow.userId,
    appId: flow.appId,
    returnTo: flow.returnTo,
    codeVerifierSealed: verifier && ctx.masterKeys.seal(verifier, sealContext('oauth_states.code_verifier_sealed', stateHash)),
    bindingHash: hashSecret(flow.binding),
    config,
    createdAt: now,
    expiresAt: now + STATE_TTL_MS,
    consumedAt: null,
  });
  const query = authorizeUrl.searchParams;
  for (const [key, value] of Object.entries(flow.provider.authorizationParams)) query.set(key, value);
  query.set('response_type', 'code');
  query.set('client_id', flow.provider.clientId);
  query.set('redirect_uri', redirectUriOf(ctx, flow.provider));
  if (flow.provider.scopes.length > 0) query.set('scope', joinScopes(flow.provider));
  query.set('state', state);
  if (verifier) {
    query.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    query.set('code_challenge_method', 'S256');
  }
  return authorizeUrl.href;
}

export type CallbackOutcome =
  /** The state failed a check: nothing was consumed and the provider was not called. */
  | { kind: 'bad_state' }
  | { kind: 'connected'; state: OAuthStateRecord; connection: ConnectionRecord }
  | { kind: 'denied'; state: OAuthStateRecord }
  | { kind: 'failed'; state: OAuthStateRecord; error: string };

/**
 * Handles the provider's redirect back. The state must exist, be unused and unexpired, belong to this
 * provider and to this browser; only then is it consumed (once, atomically), and only then is the
 * provider called. `iss` is checked (RFC 9207) when the provider sends it or advertises it.
 */
export async function completeAuthorization(ctx: ServerContext, providerName: string, query: URLSearchParams, binding: string | undefined): Promise<CallbackOutcome> {
  const stateParam = query.get('state');
  if (!stateParam || !binding) return { kind: 'bad_state' };
  const stateHash = hashSecret(stateParam);
  const state = await ctx.store.oauthStates.get(stateHash);
  const now = ctx.now();
  if (!state || state.consumedAt !== null || state.expiresAt <= now || state.bindingHash !== hashSecret(binding)) return { kind: 'bad_state' };
  const provider = await ctx.store.providers.get(state.providerId);
  if (!provider || provider.name !== providerName) return { kind: 'bad_state' };
  const settings = providerSettings(provider);

  let code: string | null;
  try {
    const as = authorizationServerOf(provider, providerUrl(settings, provider.authorizeUrl!, state.config), null);
    code = oauth.validateAuthResponse(as, { client_id: provider.clientId }, query, stateParam).get('code');
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      if (!(await ctx.store.oauthStates.consume(stateHash, now))) return { kind: 'bad_state' };
      return err.error === 'access_denied' ? { kind: 'denied', state } : { kind: 'failed', state, error: safeCode(err.error) };
    }
    // A wrong or missing `iss`, or a malformed response: possibly a mix-up attack; consume nothing.
    ctx.logger.warn({ provider: providerName, reason: (err as Error).message }, 'callback refused');
    return { kind: 'bad_state' };
  }
  // Neither a code nor an error: nothing to exchange, so nothing is consumed and the provider is not called.
  if (!code) return { kind: 'bad_state' };
  if (!(await ctx.store.oauthStates.consume(stateHash, now))) return { kind: 'bad_state' };

  const verifier = state.codeVerifierSealed && ctx.masterKeys.open(state.codeVerifierSealed, sealContext('oauth_states.code_verifier_sealed', stateHash));
  try {
    const tokens = await requestTokens(ctx, settings, state.config, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUriOf(ctx, provider),
      ...(verifier && { code_verifier: verifier }),
    });
    const identity = await accountIdentity(settings, tokens, state.config);
    const connection = await saveAuthorization(ctx, settings, state, tokens, identity);
    return { kind: 'connected', state, connection };
  } catch (err) {
    if (err instanceof ProviderRejected || err instanceof ProviderUnreachable) {
      ctx.logger.warn({ provider: providerName, reason: err.message }, 'code exchange failed');
      return { kind: 'failed', state, error: 'connection_failed' };
    }
    throw err;
  }
}

const safeCode = (code: string) => (/^[a-z_]{1,64}$/.test(code) ? code : 'connection_failed');

/**
 * Stores the tokens of an authorization: a new connection, or the same connection (same id) when it
 * existed (a portal connection, or one authorized again after needs_reauth). Its webhook event is
 * written in the same transaction.
 */
async function saveAuthorization(
  ctx: ServerContext,
  settings: ProviderSettings,
  state: OAuthStateRecord,
  tokens: Parameters<typeof tokenColumns>[3],
  identity: { id: string | null; email: string | null },
): Promise<ConnectionRecord> {
  const provider = settings.record;
  const now = ctx.now();
  return ctx.store.transaction(async (tx: Store) => {
    const existing = state.connectionId !== null ? await tx.connections.get(state.connectionId) : await tx.connections.find(provider.name, state.userId, state.appId);
    if (state.connectionId !== null && !existing) throw new BrokerError('not_found', 'the connection was deleted while it was being authorized');
    const base = existing ?? blankConnection({ providerId: provider.id, providerName: provider.name, userId: state.userId, appId: state.appId, source: 'browser', status: 'pending', now });
    if (!existing) await tx.connections.create(base);
    const firstTime = base.authorizedAt === null;
    const updated = await tx.connections.update(base.id, {
      ...tokenColumns(ctx, settings, { ...base, refreshTokenSealed: null, config: { ...base.config, ...state.config } }, tokens, now),
      providerId: provider.id,
      scopes: tokens.scopes ?? provider.scopes,
      accountId: identity.id,
      accountEmail: identity.email,
      authorizedAt: base.authorizedAt ?? now,
      // A portal link ends once it has been used.
      ...(base.portalTokenHash !== null && { portalExpiresAt: now }),
    });
    await recordEvent(tx, firstTime ? 'connection.created' : 'connection.reauthorized', updated!, now);
    return updated!;
  });
}

/** A portal link's connection, or why it cannot be used: unknown (404) or used / expired (410). */
export async function portalConnection(ctx: ServerContext, token: string): Promise<ConnectionRecord | 'unknown' | 'gone'> {
  const connection = await ctx.store.connections.findByPortalTokenHash(hashSecret(token));
  if (!connection) return 'unknown';
  if (connection.portalExpiresAt === null || connection.portalExpiresAt <= ctx.now()) return 'gone';
  return connection;
}
