import type { Command } from 'commander';
import { createApi, deleteApi, listApis, showApi, type ApiView } from '../admin/apis.js';
import { withContext, type StoreOptions } from './context.js';
import { collectWords, storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

const row = (a: ApiView) => ({ id: a.id, identifier: a.identifier, name: a.name, scopes: a.scopes, default: a.default });

export function registerApiCommands(program: Command): void {
  const apis = program.command('apis').description('APIs (resource servers) and the scopes they define');

  storeOptions(apis.command('create').description('register an API'))
    .requiredOption('--identifier <uri>', 'the API identifier: the aud of its tokens, e.g. https://api.example.com')
    .requiredOption('--name <name>', 'a name people read on the consent page')
    .requiredOption('--scope <scope>', 'a scope, as NAME or NAME=description (repeat)', collectWords('--scope', (scope) => scope.split('=')[0]!))
    .option('--default', 'tokens that name no API are for this one')
    .action(async (opts: StoreOptions & { identifier: string; name: string; scope: string[]; default?: boolean }) => {
      const api = await withContext(opts, (ctx) => createApi(ctx, { identifier: opts.identifier, name: opts.name, scopes: opts.scope, isDefault: opts.default ?? false }));
      emit(opts, api, printRecord);
    });

  storeOptions(apis.command('list').description('list APIs')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listApis), (list) => printTable(list.map(row), ['id', 'identifier', 'name', 'scopes', 'default']));
  });

  storeOptions(apis.command('show').argument('<id>', 'id or identifier').description('show an API')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => showApi(ctx, id)), printRecord);
  });

  storeOptions(apis.command('delete').argument('<id>', 'id or identifier').description('delete an API')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => deleteApi(ctx, id)), (r) => process.stdout.write(`deleted API ${r.id}\n`));
  });
}
