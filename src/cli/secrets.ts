import type { Command } from 'commander';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printRecord } from './output.js';

export function registerSecretCommands(program: Command): void {
  const secrets = program.command('secrets').description('values sealed under the master key');

  storeOptions(secrets.command('rotate').description('re-seal every secret under the newest master key (the last of LATCHKEY_MASTER_KEY)')).action(
    async (opts: StoreOptions) => {
      const result = await withContext(opts, async (ctx) => ({ master_key_id: ctx.masterKeys.current.kid, resealed: await ctx.keys.reseal() }));
      emit(opts, result, printRecord);
    },
  );
}
