import type { ScopeDefinition } from '../store/records.js';
import type { ServerContext } from './context.js';
import type { AuthorizedApp } from './pages/templates.js';

/** Describes scopes in words from the API's definitions; a scope the API no longer defines shows as itself. */
export function describeScopes(defined: readonly ScopeDefinition[], scopes: readonly string[]): ScopeDefinition[] {
  const byValue = new Map(defined.map((s) => [s.value, s]));
  return scopes.map((value) => byValue.get(value) ?? { value, description: value });
}

/** The applications a user has authorized, with what each may do at which API. */
export async function authorizedApps(ctx: ServerContext, userId: string): Promise<AuthorizedApp[]> {
  const apps = new Map<string, AuthorizedApp>();
  for (const consent of await ctx.store.consents.list(userId)) {
    const client = await ctx.store.clients.get(consent.clientId);
    if (!client) continue;
    const api = await ctx.store.apis.getByIdentifier(consent.resource);
    const app = apps.get(client.id) ?? { clientId: client.id, clientName: client.name, grants: [] };
    app.grants.push({ apiName: api?.name ?? consent.resource, scopes: describeScopes(api?.scopes ?? [], consent.scopes) });
    apps.set(client.id, app);
  }
  return [...apps.values()];
}
