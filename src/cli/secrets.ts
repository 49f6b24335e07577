import type { Command } from 'commander';
import { auditChange } from '../admin/context.js';
import { resealAll } from '../admin/secrets.js';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printRecord } from './output.js';

export function registerSecretCommands(program: Command): void {
  const secrets = program.command('secrets').description('values sealed under the master key');

  storeOptions(secrets.command('rotate').description('re-seal every secret under the newest master key (the last of LATCHKEY_MASTER_KEY)')).action(
    async (opts: StoreOptions) => {
      const report = await withContext(opts, async (ctx) => {
        const resealed = await resealAll(ctx.store, ctx.masterKeys);
        await auditChange(ctx, 'secrets.rotated', { detail: { master_key_id: resealed.master_key_id, resealed: resealed.resealed } });
        return resealed;
      });
      emit(opts, report, (r) => printRecord({ master_key_id: r.master_key_id, resealed: r.resealed, skipped: r.skipped, ...r.by_column }));
    },
  );
}
