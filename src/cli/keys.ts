import type { Command } from 'commander';
import { createApiKey, deleteApiKey, listApiKeys } from '../admin/api-keys.js';
import { listSigningKeys, rotateSigningKeys } from '../admin/signing-keys.js';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('token signing keys');

  storeOptions(keys.command('list').description('list signing keys and how long retired ones stay published')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listSigningKeys), (list) => printTable(list, ['kid', 'alg', 'status', 'created_at', 'published_until']));
  });

  storeOptions(keys.command('rotate').description('start signing with a new key; the old one stays published until its tokens expire'))
    .option('--signing-alg <alg>', 'RS256, ES256 or EdDSA (default: the current key’s)')
    .action(async (opts: StoreOptions & { signingAlg?: string }) => {
      emit(opts, await withContext(opts, (ctx) => rotateSigningKeys(ctx, opts.signingAlg)), printRecord);
    });

  const apiKeys = program.command('api-keys').description('keys for the management REST APIs');

  storeOptions(apiKeys.command('create').description('create an API key; it is shown once'))
    .requiredOption('--name <name>', 'what the key is for')
    .action(async (opts: StoreOptions & { name: string }) => {
      emit(opts, await withContext(opts, (ctx) => createApiKey(ctx, { name: opts.name })), (k) => {
        printRecord(k);
        process.stdout.write('\nStore the key now: it is not shown again.\n');
      });
    });

  storeOptions(apiKeys.command('list').description('list API keys (never the keys themselves)')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listApiKeys), (list) => printTable(list, ['id', 'name', 'created_at']));
  });

  storeOptions(apiKeys.command('delete').argument('<id>', 'API key id').description('delete an API key')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => deleteApiKey(ctx, id)), (r) => process.stdout.write(`deleted API key ${r.id}\n`));
  });
}
