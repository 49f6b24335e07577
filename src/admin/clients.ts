import { checkRedirectUri } from '../core/redirect-uri.js';
import { hashSecret, newId, newSecret } from '../crypto/secrets.js';
import type { ClientAuthMethod, ClientRecord, GrantType } from '../store/records.js';
import { GRANT_TYPES } from '../server/grants/registry.js';
import { definedScopes } from '../server/resource.js';
import { AdminError, auditChange, iso, type AdminContext } from './context.js';

export interface ClientView {
  client_id: string;
  name: string;
  public: boolean;
  token_endpoint_auth_methods: string[];
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  created_at: string;
  updated_at: string;
}

export const clientView = (c: ClientRecord): ClientView => ({
  client_id: c.id,
  name: c.name,
  public: c.isPublic,
  token_endpoint_auth_methods: c.isPublic ? ['none'] : c.authMethod ? [c.authMethod] : ['client_secret_basic', 'client_secret_post'],
  redirect_uris: c.redirectUris,
  grant_types: c.grantTypes,
  scopes: c.scopes,
  created_at: iso(c.createdAt)!,
  updated_at: iso(c.updatedAt)!,
});

export interface ClientSettings {
  name: string;
  redirectUris: readonly string[];
  grantTypes: readonly string[];
  scopes: readonly string[];
}

const AUTH_METHODS: ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

async function checkSettings(ctx: AdminContext, s: ClientSettings, isPublic: boolean): Promise<{ grantTypes: GrantType[]; redirectUris: string[]; scopes: string[] }> {
  const name = s.name.trim();
  if (name.length === 0 || name.length > 200) throw new AdminError('invalid_request', 'the client name must be 1-200 characters');
  const grantTypes = [...new Set(s.grantTypes)];
  for (const g of grantTypes) {
    if (!(GRANT_TYPES as string[]).includes(g)) throw new AdminError('invalid_request', `unknown grant type "${g}"; use ${GRANT_TYPES.join(', ')}`);
  }
  if (grantTypes.length === 0) throw new AdminError('invalid_request', 'a client needs at least one grant type');
  if (isPublic && grantTypes.includes('client_credentials')) throw new AdminError('invalid_request', 'a public client cannot use client_credentials: it has no secret');
  if (grantTypes.includes('refresh_token') && !grantTypes.includes('authorization_code')) {
    throw new AdminError('invalid_request', 'refresh tokens come from the authorization_code grant: add it too');
  }
  const redirectUris = [...new Set(s.redirectUris)];
  for (const uri of redirectUris) {
    const problem = checkRedirectUri(uri);
    if (problem) throw new AdminError('invalid_request', `redirect URI ${uri} ${problem}`);
  }
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    throw new AdminError('invalid_request', 'the authorization_code grant needs at least one --redirect-uri');
  }
  const scopes = [...new Set(s.scopes)];
  const known = new Set(await definedScopes(ctx.store));
  for (const scope of scopes) {
    if (!known.has(scope)) throw new AdminError('invalid_request', `scope "${scope}" is not defined by any API: create the API first`);
  }
  if (scopes.length === 0) throw new AdminError('invalid_request', 'a client needs at least one scope');
  return { grantTypes: grantTypes as GrantType[], redirectUris, scopes };
}

export async function createClient(
  ctx: AdminContext,
  input: ClientSettings & { isPublic: boolean; authMethod?: string | undefined },
): Promise<ClientView & { client_secret?: string }> {
  const checked = await checkSettings(ctx, input, input.isPublic);
  if (input.authMethod !== undefined) {
    if (input.isPublic) throw new AdminError('invalid_request', 'a public client authenticates with no secret: --auth-method does not apply');
    if (!(AUTH_METHODS as string[]).includes(input.authMethod)) throw new AdminError('invalid_request', `--auth-method must be ${AUTH_METHODS.join(' or ')}`);
  }
  const now = ctx.now();
  const secret = input.isPublic ? undefined : newSecret('clientSecret');
  const client: ClientRecord = {
    id: newId(),
    name: input.name.trim(),
    secretHash: secret === undefined ? null : hashSecret(secret),
    isPublic: input.isPublic,
    authMethod: (input.authMethod as ClientAuthMethod | undefined) ?? null,
    ...checked,
    createdAt: now,
    updatedAt: now,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
  };
  await ctx.store.clients.create(client);
  await auditChange(ctx, 'client.created', { clientId: client.id, detail: { name: client.name, public: client.isPublic } });
  return { ...clientView(client), ...(secret !== undefined && { client_secret: secret }) };
}

async function findClient(ctx: AdminContext, id: string): Promise<ClientRecord> {
  const client = await ctx.store.clients.get(id);
  if (!client) throw new AdminError('not_found', `no client ${id}`);
  return client;
}

export async function listClients(ctx: AdminContext): Promise<ClientView[]> {
  return (await ctx.store.clients.list()).map(clientView);
}

export async function showClient(ctx: AdminContext, id: string): Promise<ClientView> {
  return clientView(await findClient(ctx, id));
}

export async function updateClient(ctx: AdminContext, id: string, patch: Partial<ClientSettings>): Promise<ClientView> {
  const client = await findClient(ctx, id);
  const merged: ClientSettings = {
    name: patch.name ?? client.name,
    redirectUris: patch.redirectUris ?? client.redirectUris,
    grantTypes: patch.grantTypes ?? client.grantTypes,
    scopes: patch.scopes ?? client.scopes,
  };
  const checked = await checkSettings(ctx, merged, client.isPublic);
  const updated = await ctx.store.clients.update(id, { name: merged.name.trim(), ...checked }, ctx.now());
  if (!updated) throw new AdminError('not_found', `no client ${id}`);
  return clientView(updated);
}

/** The longest a previous secret may stay valid after a rotation. */
export const MAX_SECRET_GRACE_SECONDS = 30 * 24 * 3600;

/**
 * Replaces the secret, shown once like at creation. The old one stops working at once, or after
 * `graceSeconds`, so that an operator can roll the new secret out before the old one dies.
 */
export async function rotateClientSecret(
  ctx: AdminContext,
  id: string,
  graceSeconds = 0,
): Promise<{ client_id: string; client_secret: string; previous_secret_expires_at: string | null }> {
  if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > MAX_SECRET_GRACE_SECONDS) {
    throw new AdminError('invalid_request', `the grace period must be a whole number of seconds from 0 to ${MAX_SECRET_GRACE_SECONDS}`);
  }
  const client = await findClient(ctx, id);
  if (client.isPublic) throw new AdminError('invalid_request', 'a public client has no secret to rotate');
  const secret = newSecret('clientSecret');
  const now = ctx.now();
  const previousSecretExpiresAt = graceSeconds > 0 ? now + graceSeconds * 1000 : null;
  await ctx.store.clients.update(
    id,
    { secretHash: hashSecret(secret), previousSecretHash: previousSecretExpiresAt === null ? null : client.secretHash, previousSecretExpiresAt },
    now,
  );
  await auditChange(ctx, 'client.secret_rotated', { clientId: id, detail: { grace_seconds: graceSeconds } });
  return { client_id: id, client_secret: secret, previous_secret_expires_at: iso(previousSecretExpiresAt) };
}

export async function deleteClient(ctx: AdminContext, id: string): Promise<{ client_id: string; deleted: true }> {
  if (!(await ctx.store.clients.delete(id))) throw new AdminError('not_found', `no client ${id}`);
  await auditChange(ctx, 'client.deleted', { clientId: id });
  return { client_id: id, deleted: true };
}
