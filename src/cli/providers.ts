import { CLI_ACTOR } from '../server/audit.js';
import type { Command } from 'commander';
import { BrokerError } from '../broker/errors.js';
import { deleteProvider, listProviders, parseRegisterBody, registerProvider } from '../broker/providers.js';
import { withContext, type StoreOptions } from './context.js';
import { collect, collectWords, storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

interface ConfigureOptions extends StoreOptions {
  clientId: string;
  clientSecret: string;
  appId?: string;
  authorizeUrl?: string;
  tokenUrl?: string;
  revokeUrl?: string;
  providerIssuer?: string;
  scope?: string[];
  scopeSeparator?: string;
  redirectUri?: string;
  grantType?: string;
  authMethod?: string;
  pkce?: boolean;
  param?: string[];
  tokenParam?: string[];
  template?: string[];
}

/** `name=value` pairs of a repeatable flag, as an object. */
function pairs(flag: string, values: string[] | undefined): Record<string, string> | undefined {
  if (!values) return undefined;
  return Object.fromEntries(
    values.map((v) => {
      const eq = v.indexOf('=');
      if (eq < 1) throw new BrokerError('invalid_request', `${flag} takes name=value, not "${v}"`);
      return [v.slice(0, eq), v.slice(eq + 1)];
    }),
  );
}

export function registerProviderCommands(program: Command): void {
  const providers = program.command('providers').description('third-party OAuth providers the broker connects to');

  storeOptions(providers.command('configure').argument('<name>', 'a catalog name (see docs/providers.md) or any [a-z0-9_-] name').description('register or update a provider'))
    .requiredOption('--client-id <id>', 'your application’s client id at the provider')
    .requiredOption('--client-secret <secret>', 'its client secret (stored encrypted)')
    .option('--app-id <id>', 'register it for one app only')
    .option('--authorize-url <url>', 'authorization endpoint (not needed for catalog providers)')
    .option('--token-url <url>', 'token endpoint (not needed for catalog providers)')
    .option('--revoke-url <url>', 'RFC 7009 revocation endpoint')
    .option('--provider-issuer <url>', 'read the endpoints from this issuer’s metadata (RFC 8414 / OpenID discovery)')
    .option('--scope <scope>', 'a scope to request; repeat for more', collectWords('--scope'))
    .option('--scope-separator <sep>', 'how scopes are joined: " " (default), "," or "+"')
    .option('--redirect-uri <url>', 'default <issuer>/api/v1/credentials/auth/callback/<name>')
    .option('--grant-type <grant>', 'authorization_code (default) or client_credentials')
    .option('--auth-method <method>', 'client_secret_basic (default) or client_secret_post')
    .option('--no-pkce', 'do not send PKCE (it is sent by default)')
    .option('--param <name=value>', 'an extra authorization parameter; repeat for more', collect)
    .option('--token-param <name=value>', 'an extra token request parameter; repeat for more', collect)
    .option('--template <name=value>', 'a value for a {placeholder} of the provider’s URLs; repeat for more', collect)
    .action(async (name: string, opts: ConfigureOptions) => {
      const body = parseRegisterBody({
        provider_name: name,
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        ...(opts.appId && { app_id: opts.appId }),
        ...(opts.redirectUri && { redirect_uri: opts.redirectUri }),
        token_data: {
          ...(opts.authorizeUrl && { authorize_url: opts.authorizeUrl }),
          ...(opts.tokenUrl && { token_url: opts.tokenUrl }),
          ...(opts.revokeUrl && { revoke_url: opts.revokeUrl }),
          ...(opts.providerIssuer && { issuer: opts.providerIssuer }),
          ...(opts.scope && { scopes: opts.scope }),
          ...(opts.scopeSeparator && { scope_separator: opts.scopeSeparator }),
          ...(opts.grantType && { grant_type: opts.grantType }),
          ...(opts.authMethod && { auth_method: opts.authMethod }),
          ...(opts.pkce === false && { pkce: false }),
          ...(opts.param && { authorization_params: pairs('--param', opts.param) }),
          ...(opts.tokenParam && { token_params: pairs('--token-param', opts.tokenParam) }),
          ...(opts.template && { template_values: pairs('--template', opts.template) }),
        },
      });
      const result = await withContext(opts, async (ctx) => {
        const { created, provider } = await registerProvider(ctx, body);
        return { provider_id: provider.id, provider_name: provider.name, app_id: provider.appId, created };
      });
      emit(opts, result, (r) => process.stdout.write(`${r.created ? 'registered' : 'updated'} provider ${r.provider_name} (${r.provider_id})\n`));
    });

  storeOptions(providers.command('list').description('list providers (never their secrets)')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listProviders), (list) => printTable(list, ['provider_id', 'provider_name', 'app_id', 'grant_type', 'token_url', 'scopes']));
  });

  storeOptions(providers.command('delete').argument('<name>', 'provider name').description('delete a provider'))
    .option('--app-id <id>', 'the app it was registered for')
    .option('--force', 'also revoke and delete its connections')
    .action(async (name: string, opts: StoreOptions & { appId?: string; force?: boolean }) => {
      const result = await withContext(opts, async (ctx) => {
        const provider = await ctx.store.providers.find(name, opts.appId ?? null);
        if (!provider) throw new BrokerError('not_found', `no provider named ${name}${opts.appId ? ` for app ${opts.appId}` : ''}`);
        return deleteProvider(ctx, provider.id, opts.force ?? false, CLI_ACTOR);
      });
      emit(opts, result, printRecord);
    });
}
