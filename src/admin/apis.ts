import { isValidScopeToken } from '../core/scopes.js';
import { newId } from '../crypto/secrets.js';
import type { ApiRecord, ScopeDefinition } from '../store/records.js';
import { AdminError, iso, isUniqueViolation, type AdminContext } from './context.js';

export interface ApiView {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  scope_descriptions: Record<string, string>;
  default: boolean;
  created_at: string;
  updated_at: string;
}

export const apiView = (api: ApiRecord): ApiView => ({
  id: api.id,
  identifier: api.identifier,
  name: api.name,
  scopes: api.scopes.map((s) => s.value),
  scope_descriptions: Object.fromEntries(api.scopes.map((s) => [s.value, s.description])),
  default: api.isDefault,
  created_at: iso(api.createdAt)!,
  updated_at: iso(api.updatedAt)!,
});

/** "read:projects" reads as "Read projects" when no description is given. */
function describeScope(value: string): string {
  const match = /^([a-z]+)[:.]([^:.]+)$/i.exec(value);
  if (!match) return value;
  const [, verb, object] = match as unknown as [string, string, string];
  return `${verb.charAt(0).toUpperCase()}${verb.slice(1)} ${object.replace(/[_-]/g, ' ')}`;
}

/** Scopes are given as `value` or `value=description`. */
export function parseScopeDefinitions(entries: readonly string[]): ScopeDefinition[] {
  const seen = new Set<string>();
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    const value = (eq === -1 ? entry : entry.slice(0, eq)).trim();
    const description = eq === -1 ? describeScope(value) : entry.slice(eq + 1).trim();
    if (!isValidScopeToken(value)) throw new AdminError('invalid_request', `scope "${value}" is not a valid scope token (RFC 6749 §3.3)`);
    if (seen.has(value)) throw new AdminError('invalid_request', `scope "${value}" is listed twice`);
    if (description.length === 0 || description.length > 200) throw new AdminError('invalid_request', `the description of scope "${value}" must be 1-200 characters`);
    seen.add(value);
    return { value, description };
  });
}

function checkIdentifier(identifier: string): void {
  // RFC 8707 §2: a resource is an absolute URI without a fragment.
  let url: URL;
  try {
    url = new URL(identifier);
  } catch {
    throw new AdminError('invalid_request', 'the API identifier must be an absolute URI, e.g. https://api.example.com');
  }
  if (url.hash || identifier.includes('#')) throw new AdminError('invalid_request', 'the API identifier must not contain a fragment');
  if (identifier.length > 500) throw new AdminError('invalid_request', 'the API identifier is longer than 500 characters');
}

export async function createApi(ctx: AdminContext, input: { identifier: string; name: string; scopes: readonly string[]; isDefault: boolean }): Promise<ApiView> {
  checkIdentifier(input.identifier);
  if (input.name.trim().length === 0 || input.name.length > 200) throw new AdminError('invalid_request', 'the API name must be 1-200 characters');
  const scopes = parseScopeDefinitions(input.scopes);
  if (scopes.length === 0) throw new AdminError('invalid_request', 'an API defines at least one scope');
  const now = ctx.now();
  // The first API becomes the default, so that token requests naming none have somewhere to go.
  const isDefault = input.isDefault || (await ctx.store.apis.getDefault()) === undefined;
  const api: ApiRecord = { id: newId('api_'), identifier: input.identifier, name: input.name.trim(), scopes, isDefault, createdAt: now, updatedAt: now };
  try {
    await ctx.store.apis.create(api);
  } catch (err) {
    if (isUniqueViolation(err)) throw new AdminError('conflict', `an API with identifier ${input.identifier} exists already`);
    throw err;
  }
  return apiView(api);
}

export async function listApis(ctx: AdminContext): Promise<ApiView[]> {
  return (await ctx.store.apis.list()).map(apiView);
}

async function findApi(ctx: AdminContext, idOrIdentifier: string): Promise<ApiRecord> {
  const api = (await ctx.store.apis.get(idOrIdentifier)) ?? (await ctx.store.apis.getByIdentifier(idOrIdentifier));
  if (!api) throw new AdminError('not_found', `no API ${idOrIdentifier}`);
  return api;
}

export async function showApi(ctx: AdminContext, idOrIdentifier: string): Promise<ApiView> {
  return apiView(await findApi(ctx, idOrIdentifier));
}

export async function deleteApi(ctx: AdminContext, idOrIdentifier: string): Promise<{ id: string; deleted: true }> {
  const api = await findApi(ctx, idOrIdentifier);
  await ctx.store.apis.delete(api.id, ctx.now());
  return { id: api.id, deleted: true };
}
