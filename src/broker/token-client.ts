import { decodeJwt } from 'jose';
import type { ServerContext } from '../server/context.js';
import { sealContext } from '../store/sealed-columns.js';
import { describeUrl, outboundFetch, OutboundError } from './outbound.js';
import { providerUrl, valueAt, type ProviderSettings } from './provider-settings.js';

/** What a provider's token endpoint gave, in one shape whatever its own. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string | null;
  tokenType: string;
  /** Seconds, when the provider said. */
  expiresIn: number | null;
  /** As granted, when the provider said; otherwise as requested. */
  scopes: string[] | null;
  idToken: string | null;
  /** The catalog's connection fields found in the response. */
  fields: Record<string, string>;
}

/** The provider answered, and refused: `error` is its OAuth error code (e.g. invalid_grant). */
export class ProviderRejected extends Error {
  constructor(
    readonly error: string,
    readonly status: number,
  ) {
    super(`the provider refused the request (${error})`);
  }
}

/** The provider could not be reached, timed out, failed (5xx, 429) or answered something unreadable. */
export class ProviderUnreachable extends Error {}

/** Parses a token endpoint's body: JSON, or form encoding (GitHub without an Accept header, some older servers). */
function parseBody(text: string, contentType: string): unknown {
  const looksJson = /json/i.test(contentType) || /^\s*[{[]/.test(text);
  if (looksJson) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }
  if (text.includes('=')) return Object.fromEntries(new URLSearchParams(text));
  return undefined;
}

const asString = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);

function parseScopes(value: unknown, separator: string): string[] | null {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value !== 'string') return null;
  const split = separator === ',' ? /[,\s]+/ : /[\s,+]+/;
  return value.split(split).filter(Boolean);
}

function parseExpiresIn(value: unknown): number | null {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : null;
}

/**
 * One request to the provider's token endpoint: the code exchange, a refresh, or client credentials.
 * The client authenticates as registered (Basic or in the body); the catalog's extra token
 * parameters ride along. This is not oauth4webapi: real providers answer in shapes it rightly
 * refuses (form encoding, a 200 with `ok: false`, tokens nested in `authed_user`).
 */
export async function requestTokens(
  ctx: ServerContext,
  settings: ProviderSettings,
  connectionConfig: Record<string, string>,
  params: Record<string, string>,
): Promise<TokenSet> {
  const p = settings.record;
  const secret = ctx.masterKeys.open(p.clientSecretSealed, sealContext('providers.client_secret_sealed', p.id));
  const body = new URLSearchParams({ ...p.tokenParams, ...params });
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  if (p.authMethod === 'client_secret_post') {
    body.set('client_id', p.clientId);
    body.set('client_secret', secret);
  } else {
    // RFC 6749 §2.3.1: each part form-encoded before Basic.
    const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${encode(p.clientId)}:${encode(secret)}`).toString('base64')}`;
  }
  const url = providerUrl(settings, p.tokenUrl, connectionConfig);
  let response: Response;
  try {
    response = await outboundFetch(url, { method: 'POST', headers, body: body.toString() });
  } catch (err) {
    if (err instanceof OutboundError) throw new ProviderUnreachable(err.message);
    throw err;
  }
  const parsed = parseBody(await response.text(), response.headers.get('content-type') ?? '');
  const shape = settings.shape;
  // A quirky path that is absent falls back to the standard field: Slack nests the user's tokens at
  // connect time but answers a rotation refresh at the top level.
  const read = (path: string, standard: string) => asString(valueAt(parsed, path)) ?? asString(valueAt(parsed, standard));
  if (response.status >= 500 || response.status === 429) throw new ProviderUnreachable(`${describeUrl(url)} answered ${response.status}`);
  const error = read(shape.errorPath, 'error');
  const accessToken = read(shape.accessTokenPath, 'access_token');
  const flag = shape.successFlagPath ? valueAt(parsed, shape.successFlagPath) : true;
  // GitHub and Slack report errors with a 200: an error without a token is a refusal whatever the status.
  if (!response.ok || flag === false || (error !== undefined && accessToken === undefined)) {
    throw new ProviderRejected(error && /^[\x20-\x7e]{1,64}$/.test(error) ? error : 'invalid_response', response.status);
  }
  if (!accessToken) throw new ProviderUnreachable(`${describeUrl(url)} answered without an access token`);
  const fields: Record<string, string> = {};
  for (const field of settings.connectionFields) {
    const value = valueAt(parsed, field);
    if (typeof value === 'boolean') fields[field] = String(value);
    else if (asString(value) !== undefined) fields[field] = asString(value)!;
  }
  return {
    accessToken,
    refreshToken: read(shape.refreshTokenPath, 'refresh_token') ?? null,
    tokenType: read(shape.tokenTypePath, 'token_type') ?? 'Bearer',
    expiresIn: parseExpiresIn(valueAt(parsed, shape.expiresInPath) ?? valueAt(parsed, 'expires_in')),
    scopes: parseScopes(valueAt(parsed, shape.scopePath) ?? valueAt(parsed, 'scope'), p.scopeSeparator),
    idToken: asString(valueAt(parsed, 'id_token')) ?? null,
    fields,
  };
}

export interface AccountIdentity {
  id: string | null;
  email: string | null;
}

/**
 * Who the connected account is, where the provider says: an ID token's claims (taken from the token
 * endpoint over TLS, as OpenID Connect Core §3.1.3.7 allows without checking its signature), then
 * the userinfo endpoint for what the ID token leaves out (in a code flow, Core §5.4 puts scope claims
 * such as email only there); userinfo for another subject is ignored (Core §5.3.2). Failing to learn
 * it never fails the connection.
 */
export async function accountIdentity(settings: ProviderSettings, tokens: TokenSet, connectionConfig: Record<string, string>): Promise<AccountIdentity> {
  let fromIdToken: AccountIdentity | undefined;
  if (tokens.idToken) {
    try {
      const claims = decodeJwt(tokens.idToken);
      fromIdToken = { id: asString(claims.sub) ?? null, email: asString(claims.email) ?? null };
    } catch {
      // Not a JWT: fall through to userinfo.
    }
  }
  if (fromIdToken?.email) return fromIdToken;
  const fromUserinfo = await userinfoIdentity(settings, tokens, connectionConfig);
  if (!fromIdToken) return fromUserinfo;
  return fromUserinfo.id === fromIdToken.id ? { id: fromIdToken.id, email: fromUserinfo.email } : fromIdToken;
}

async function userinfoIdentity(settings: ProviderSettings, tokens: TokenSet, connectionConfig: Record<string, string>): Promise<AccountIdentity> {
  const userinfo = settings.record.userinfoUrl;
  if (!userinfo || !settings.identity) return { id: null, email: null };
  try {
    const response = await outboundFetch(providerUrl(settings, userinfo, connectionConfig), {
      headers: { authorization: `Bearer ${tokens.accessToken}`, accept: 'application/json' },
    });
    if (!response.ok) return { id: null, email: null };
    const body = parseBody(await response.text(), response.headers.get('content-type') ?? '');
    return { id: asString(valueAt(body, settings.identity.idPath)) ?? null, email: asString(valueAt(body, settings.identity.emailPath)) ?? null };
  } catch {
    return { id: null, email: null };
  }
}
