import type { Command } from 'commander';
import { createClient, deleteClient, listClients, rotateClientSecret, showClient, type ClientView } from '../admin/clients.js';
import { digitsToNumber } from '../config.js';
import { withContext, type StoreOptions } from './context.js';
import { collectWords, storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

const row = (c: ClientView) => ({ client_id: c.client_id, name: c.name, public: c.public, grant_types: c.grant_types, scopes: c.scopes });

interface CreateOptions extends StoreOptions {
  name: string;
  redirectUri?: string[];
  grantType: string[];
  scope: string[];
  public?: boolean;
  authMethod?: string;
}

export function registerClientCommands(program: Command): void {
  const clients = program.command('clients').description('OAuth applications');

  storeOptions(clients.command('create').description('register an OAuth application; its secret is shown once'))
    .requiredOption('--name <name>', 'shown to users on the consent page')
    .option('--redirect-uri <uri>', 'an exact redirect URI (repeat); required for authorization_code', collectWords('--redirect-uri'))
    .requiredOption('--grant-type <grant>', 'authorization_code, client_credentials or refresh_token (repeat)', collectWords('--grant-type'))
    .requiredOption('--scope <scope>', 'a scope the client may request (repeat)', collectWords('--scope'))
    .option('--public', 'a public client (no secret, PKCE required): browser and native apps')
    .option('--auth-method <method>', 'accept only client_secret_basic or only client_secret_post')
    .action(async (opts: CreateOptions) => {
      const created = await withContext(opts, (ctx) =>
        createClient(ctx, {
          name: opts.name,
          redirectUris: opts.redirectUri ?? [],
          grantTypes: opts.grantType,
          scopes: opts.scope,
          isPublic: opts.public ?? false,
          authMethod: opts.authMethod,
        }),
      );
      emit(opts, created, (c) => {
        printRecord(c);
        if (c.client_secret) process.stdout.write('\nStore the client secret now: it is not shown again.\n');
      });
    });

  storeOptions(clients.command('list').description('list OAuth applications')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listClients), (list) => printTable(list.map(row), ['client_id', 'name', 'public', 'grant_types', 'scopes']));
  });

  storeOptions(clients.command('show').argument('<id>', 'client id').description('show an application')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => showClient(ctx, id)), printRecord);
  });

  storeOptions(clients.command('rotate-secret').argument('<id>', 'client id').description('replace the secret; the old one stops working at once, or after --grace'))
    .option('--grace <seconds>', 'keep the old secret valid this many seconds more, while the new one is rolled out (default 0)')
    .action(async (id: string, opts: StoreOptions & { grace?: string }) => {
      const grace = opts.grace === undefined ? 0 : digitsToNumber(opts.grace);
      emit(opts, await withContext(opts, (ctx) => rotateClientSecret(ctx, id, grace)), (r) => {
        printRecord(r);
        process.stdout.write('\nStore the client secret now: it is not shown again.\n');
      });
    });

  storeOptions(clients.command('delete').argument('<id>', 'client id').description('delete an application and revoke its tokens')).action(
    async (id: string, opts: StoreOptions) => {
      emit(opts, await withContext(opts, (ctx) => deleteClient(ctx, id)), (r) => process.stdout.write(`deleted client ${r.client_id}\n`));
    },
  );
}
