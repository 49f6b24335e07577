import { InvalidTarget } from '../core/errors.js';
import type { ApiRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { ServerContext } from './context.js';

/**
 * Picks the API (resource server) a request is for: RFC 8707 `resource`, or `audience` as Auth0
 * clients send it, or the default API. One token serves one API, so several resources are refused.
 */
export async function resolveApi(ctx: ServerContext, resources: readonly string[], audience: string | undefined): Promise<ApiRecord> {
  if (resources.length > 1) throw new InvalidTarget('one token serves one API: send a single resource');
  const [resource] = resources;
  if (resource !== undefined && audience !== undefined && resource !== audience) {
    throw new InvalidTarget('resource and audience name different APIs');
  }
  const identifier = resource ?? audience;
  if (identifier === undefined) {
    const api = await ctx.store.apis.getDefault();
    if (!api) throw new InvalidTarget('no default API is configured: name one with resource or audience');
    return api;
  }
  const api = await ctx.store.apis.getByIdentifier(identifier);
  if (!api) throw new InvalidTarget('unknown resource');
  return api;
}

export const apiScopeValues = (api: ApiRecord): string[] => api.scopes.map((s) => s.value);

/** Every scope some API defines, each once, in the order the APIs were created. */
export async function definedScopes(store: Store): Promise<string[]> {
  return [...new Set((await store.apis.list()).flatMap(apiScopeValues))];
}
