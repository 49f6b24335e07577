import { InvalidRequest, OAuthError, UnauthorizedClient, UnsupportedResponseType, quoted } from '../core/errors.js';
import type { ParsedParams } from '../core/params.js';
import { parseChallenge } from '../core/pkce.js';
import { matchRedirectUri, withParams } from '../core/redirect-uri.js';
import { coversScopes, grantScopes, parseScopeParam } from '../core/scopes.js';
import { hashSecret, newId, randomToken } from '../crypto/secrets.js';
import type { ClientRecord } from '../store/records.js';
import type { ServerContext } from './context.js';
import { apiScopeValues, resolveApi } from './resource.js';

/** A validated authorization request (RFC 6749 §4.1.1), ready for login and consent. */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scopes: string[];
  resource: string;
  state: string | undefined;
  codeChallenge: string | null;
  prompt: 'none' | 'consent' | undefined;
}

/**
 * The request cannot be trusted to redirect: the client or redirect URI is unknown or wrong, so the
 * user sees an error page and nothing is sent anywhere (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
 */
export class AuthorizationPageError extends Error {}

/** An error for a verified client and redirect URI: it goes back to the client (RFC 6749 §4.1.2.1). */
export class AuthorizationRedirectError extends Error {
  constructor(
    readonly error: OAuthError,
    readonly redirectUri: string,
    readonly state: string | undefined,
  ) {
    super(error.description);
  }
}

function pickRedirectUri(client: ClientRecord, requested: string | undefined): string {
  if (requested === undefined) {
    // RFC 6749 §3.1.2.3: omitted only when exactly one URI is registered.
    if (client.redirectUris.length === 1) return client.redirectUris[0]!;
    throw new AuthorizationPageError('The application did not say where to return you (redirect_uri is missing).');
  }
  if (!matchRedirectUri(client.redirectUris, requested)) {
    throw new AuthorizationPageError('The application asked to return you to an address it has not registered (redirect_uri mismatch).');
  }
  return requested;
}

function parsePrompt(value: string | undefined): AuthorizationRequest['prompt'] {
  if (value === undefined) return undefined;
  const values = value.split(' ').filter(Boolean);
  if (values.includes('none')) {
    if (values.length > 1) throw new InvalidRequest('prompt=none cannot be combined with other values');
    return 'none';
  }
  return values.includes('consent') ? 'consent' : undefined;
}

export async function validateAuthorizationRequest(ctx: ServerContext, parsed: ParsedParams): Promise<AuthorizationRequest> {
  const { single: params, duplicates } = parsed;
  if (duplicates.includes('client_id') || duplicates.includes('redirect_uri')) {
    throw new AuthorizationPageError('The request repeated client_id or redirect_uri.');
  }
  const clientId = params.get('client_id');
  if (clientId === undefined) throw new AuthorizationPageError('The request names no application (client_id is missing).');
  const client = clientId.includes('\0') ? undefined : await ctx.store.clients.get(clientId);
  if (!client) throw new AuthorizationPageError('The application is not registered here (unknown client_id).');
  const redirectUri = pickRedirectUri(client, params.get('redirect_uri'));
  const state = params.get('state');

  try {
    const [duplicate] = duplicates;
    if (duplicate !== undefined) throw new InvalidRequest(`parameter ${quoted(duplicate)} was sent more than once`);
    if ([...params.values()].some((value) => value.includes('\0'))) throw new InvalidRequest('a parameter contains a character that is not allowed (NUL)');
    const responseType = params.get('response_type');
    if (responseType === undefined) throw new InvalidRequest('missing required parameter "response_type"');
    if (responseType !== 'code') throw new UnsupportedResponseType('only response_type=code is supported');
    if (!client.grantTypes.includes('authorization_code')) throw new UnauthorizedClient('the client may not use the authorization code grant');
    const responseMode = params.get('response_mode');
    if (responseMode !== undefined && responseMode !== 'query') throw new InvalidRequest('only response_mode=query is supported');
    if (params.has('request') || params.has('request_uri')) throw new InvalidRequest('request objects are not supported');
    const pkce = parseChallenge(params.get('code_challenge'), params.get('code_challenge_method'));
    if (!pkce && client.isPublic) throw new InvalidRequest('public clients must use PKCE (code_challenge with S256)');
    if (!pkce && ctx.config.requirePkce === 'all') throw new InvalidRequest('this server requires PKCE from every client (code_challenge with S256)');
    const api = await resolveApi(ctx, parsed.repeated.get('resource') ?? [], params.get('audience'));
    const scopes = grantScopes(parseScopeParam(params.get('scope')), client.scopes, apiScopeValues(api));
    return {
      clientId: client.id,
      redirectUri,
      scopes,
      resource: api.identifier,
      state,
      codeChallenge: pkce?.challenge ?? null,
      prompt: parsePrompt(params.get('prompt')),
    };
  } catch (err) {
    if (err instanceof OAuthError) throw new AuthorizationRedirectError(err, redirectUri, state);
    throw err;
  }
}

/** The authorization response or error, with `iss` (RFC 9207) and the client's `state`. */
export function authorizationResponseUrl(ctx: ServerContext, redirectUri: string, state: string | undefined, result: { code: string } | OAuthError): string {
  const fields = result instanceof OAuthError ? { error: result.error, error_description: result.description } : { code: result.code };
  return withParams(redirectUri, { ...fields, state, iss: ctx.config.issuer });
}

/** True when the user already consented to every scope of this request for this client and API. */
export async function hasConsent(ctx: ServerContext, userId: string, request: AuthorizationRequest): Promise<boolean> {
  const consent = await ctx.store.consents.get(userId, request.clientId, request.resource);
  return consent !== undefined && coversScopes(consent.scopes, request.scopes);
}

/** Remembers the consent, adding the new scopes to those consented before. */
export async function rememberConsent(ctx: ServerContext, userId: string, request: AuthorizationRequest): Promise<void> {
  const now = ctx.now();
  const previous = await ctx.store.consents.get(userId, request.clientId, request.resource);
  await ctx.store.consents.save({
    userId,
    clientId: request.clientId,
    resource: request.resource,
    scopes: [...new Set([...(previous?.scopes ?? []), ...request.scopes])],
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  });
}

/** Issues a single-use code, valid for `codeTtlSeconds`, and returns the URL to send the user to. */
export async function issueCode(ctx: ServerContext, userId: string, request: AuthorizationRequest): Promise<string> {
  const now = ctx.now();
  const code = randomToken(32);
  await ctx.store.tokens.insertCode({
    codeHash: hashSecret(code),
    grantId: newId('g_'),
    clientId: request.clientId,
    userId,
    redirectUri: request.redirectUri,
    scopes: request.scopes,
    resource: request.resource,
    codeChallenge: request.codeChallenge,
    createdAt: now,
    expiresAt: now + ctx.config.codeTtlSeconds * 1000,
    consumedAt: null,
  });
  return authorizationResponseUrl(ctx, request.redirectUri, request.state, { code });
}
