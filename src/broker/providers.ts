import type { Actor } from '../server/audit.js';
import { z } from 'zod';
import { newId } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import type { ProviderRecord } from '../store/records.js';
import { sealContext } from '../store/sealed-columns.js';
import { catalogEntry, fillTemplate } from './catalog/catalog.js';
import { revokeConnection } from './connections.js';
import { discoverProvider, type DiscoveredProvider } from './discovery.js';
import { BrokerError, parseInput } from './errors.js';
import { urlRefusal } from './outbound.js';
import { providerView } from './views.js';

const text = (max: number) => z.string().min(1).max(max);
const url = text(2000);
const params = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().max(500)).refine((r) => Object.keys(r).length <= 20, 'at most 20 parameters');

export const registerBody = z.strictObject({
  provider_name: z.string().regex(/^[a-z0-9_-]{1,64}$/, 'must be 1-64 of a-z, 0-9, _ and -'),
  client_id: text(512),
  client_secret: text(4096),
  app_id: text(200).optional(),
  redirect_uri: url.optional(),
  token_data: z
    .strictObject({
      authorize_url: url.optional(),
      token_url: url.optional(),
      revoke_url: url.optional(),
      userinfo_url: url.optional(),
      issuer: url.optional(),
      scopes: z.array(text(500)).max(100).optional(),
      scope_separator: z.enum([' ', ',', '+']).optional(),
      pkce: z.boolean().optional(),
      auth_method: z.enum(['client_secret_basic', 'client_secret_post']).optional(),
      grant_type: z.enum(['authorization_code', 'client_credentials']).optional(),
      authorization_params: params.optional(),
      token_params: params.optional(),
      template_values: params.optional(),
    })
    .optional(),
});
export type RegisterBody = z.infer<typeof registerBody>;

export const parseRegisterBody = (body: unknown): RegisterBody => parseInput(registerBody, body);

export const defaultRedirectUri = (ctx: ServerContext, name: string) => `${ctx.config.issuer}/api/v1/credentials/auth/callback/${name}`;

function fillFromRegistration(field: string, template: string, values: Record<string, string>): string {
  try {
    return fillTemplate(template, values);
  } catch (err) {
    throw new BrokerError('invalid_request', `${field}: ${(err as Error).message} (give it in token_data.issuer or token_data.template_values)`);
  }
}

function checkUrl(field: string, value: string | null, templateValues: Record<string, string>): void {
  if (value === null) return;
  // Placeholders left for each connection are checked once filled; here a harmless label stands in.
  const filled = value.replace(/\{([a-z_][a-z0-9_]*)\}/gi, (_m, name: string) => (name in templateValues ? `{${name}}` : 'placeholder'));
  const concrete = fillFromRegistration(`token_data.${field}`, filled, templateValues);
  const refusal = urlRefusal(concrete);
  if (refusal) throw new BrokerError('invalid_request', `token_data.${field} ${refusal}`);
}

/**
 * Registers a provider, or updates the one of the same name (and app), keeping its id. A catalog
 * name needs only the client's id and secret; any other provider needs its URLs or its issuer, from
 * whose metadata (RFC 8414 or OpenID discovery) the URLs, revocation and `iss` support are read.
 */
export async function registerProvider(ctx: ServerContext, body: RegisterBody): Promise<{ created: boolean; provider: ProviderRecord }> {
  const entry = catalogEntry(body.provider_name);
  const data = body.token_data ?? {};
  const templateValues: Record<string, string> = { ...data.template_values };
  if (entry && data.issuer && entry.template_variables?.some((v: { name: string }) => v.name === 'issuer')) templateValues.issuer = data.issuer.replace(/\/$/, '');

  let discovered: DiscoveredProvider | undefined;
  const urlsGiven = data.token_url !== undefined || entry !== undefined;
  if (data.issuer && !urlsGiven) discovered = await discoverProvider(data.issuer);

  // A catalog's fixed issuer is that of its own authorize URL: a registration that sends the browser
  // elsewhere (a sandbox, a My Domain login page) or names an issuer speaks for another server.
  const catalogIssuer =
    entry?.issuer !== undefined && (entry.issuer.includes('{') || (data.authorize_url === undefined && data.issuer === undefined))
      ? fillFromRegistration('issuer', entry.issuer, templateValues)
      : undefined;
  const grantType = data.grant_type ?? entry?.grant_type ?? 'authorization_code';
  const record: ProviderRecord = {
    id: newId('prv_'),
    name: body.provider_name,
    appId: body.app_id ?? null,
    catalogName: entry?.name ?? null,
    grantType,
    clientId: body.client_id,
    clientSecretSealed: '',
    authorizeUrl: grantType === 'client_credentials' ? null : (data.authorize_url ?? entry?.authorize_url ?? discovered?.authorizeUrl ?? null),
    tokenUrl: data.token_url ?? entry?.token_url ?? discovered?.tokenUrl ?? '',
    revokeUrl: data.revoke_url ?? entry?.revoke_url ?? discovered?.revokeUrl ?? null,
    userinfoUrl: data.userinfo_url ?? entry?.userinfo_url ?? discovered?.userinfoUrl ?? null,
    issuer: catalogIssuer ?? discovered?.issuer ?? data.issuer ?? null,
    issParameterSupported: entry?.iss_parameter_supported ?? discovered?.issParameterSupported ?? false,
    scopes: data.scopes ?? entry?.default_scopes ?? [],
    scopeSeparator: data.scope_separator ?? entry?.scope_separator ?? ' ',
    pkce: data.pkce ?? entry?.pkce ?? true,
    authMethod: data.auth_method ?? entry?.auth_method ?? discovered?.authMethod ?? 'client_secret_basic',
    redirectUri: body.redirect_uri ?? null,
    authorizationParams: { ...entry?.authorization_params, ...data.authorization_params },
    tokenParams: { ...entry?.token_params, ...data.token_params },
    templateValues,
    createdAt: ctx.now(),
    updatedAt: ctx.now(),
  };
  if (!record.tokenUrl) throw new BrokerError('invalid_request', 'token_data.token_url is required for a provider outside the catalog (or give token_data.issuer)');
  if (grantType === 'authorization_code' && !record.authorizeUrl) throw new BrokerError('invalid_request', 'token_data.authorize_url is required for the authorization_code grant');
  checkUrl('authorize_url', record.authorizeUrl, templateValues);
  checkUrl('token_url', record.tokenUrl, templateValues);
  checkUrl('revoke_url', record.revokeUrl, templateValues);
  checkUrl('userinfo_url', record.userinfoUrl, templateValues);
  if (record.redirectUri !== null && urlRefusal(record.redirectUri)) throw new BrokerError('invalid_request', `redirect_uri ${urlRefusal(record.redirectUri)}`);

  const existing = await ctx.store.providers.find(record.name, record.appId);
  const id = existing?.id ?? record.id;
  record.clientSecretSealed = ctx.masterKeys.seal(body.client_secret, sealContext('providers.client_secret_sealed', id));
  return ctx.store.providers.upsert({ ...record, id }).then(({ provider, created }) => {
    // Two first registrations at once: the loser's secret was sealed for an id that lost; seal again.
    if (provider.id !== id) return registerProvider(ctx, body);
    return { created, provider };
  });
}

export async function listProviders(ctx: ServerContext) {
  return (await ctx.store.providers.list()).map((p) => providerView(p, defaultRedirectUri(ctx, p.name)));
}

/** Deletes a provider; with connections it needs `force`, which revokes each at the provider first. */
export async function deleteProvider(ctx: ServerContext, providerId: string, force: boolean, by: Actor): Promise<{ success: true; message: string; connections_revoked: number }> {
  const provider = await ctx.store.providers.get(providerId);
  if (!provider) throw new BrokerError('not_found', 'no such provider');
  const connections = await ctx.store.connections.list({ providerId });
  if (connections.length > 0 && !force) throw new BrokerError('provider_in_use', `the provider has ${connections.length} connection(s); delete it with force to revoke them too`);
  for (const connection of connections) await revokeConnection(ctx, connection, by);
  await ctx.store.providers.delete(providerId);
  return { success: true, message: `provider ${provider.name} deleted`, connections_revoked: connections.length };
}

/** The provider a flow or credential request for `name` and `appId` uses: the app's own, else the instance's. */
export async function providerFor(ctx: ServerContext, name: string, appId: string | null): Promise<ProviderRecord> {
  const provider = (appId !== null ? await ctx.store.providers.find(name, appId) : undefined) ?? (await ctx.store.providers.find(name, null));
  if (!provider) throw new BrokerError('not_found', `no provider named ${name} is registered`);
  return provider;
}
