import type { Command } from 'commander';
import { DEFAULT_AUDIT_LIMIT, listAuditEvents } from '../admin/audit.js';
import { digitsToNumber } from '../config.js';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printTable } from './output.js';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the security events Latchkey records');

  storeOptions(audit.command('list').description('security events, newest first'))
    .option('--type <type>', 'only events of this type, e.g. signin.failed or refresh.reuse_detected')
    .option('--since <time>', 'only events at or after this ISO 8601 time')
    .option('--limit <n>', `at most this many events (default ${DEFAULT_AUDIT_LIMIT})`)
    .action(async (opts: StoreOptions & { type?: string; since?: string; limit?: string }) => {
      const limit = opts.limit === undefined ? undefined : digitsToNumber(opts.limit);
      const events = await withContext(opts, (ctx) => listAuditEvents(ctx, { type: opts.type, since: opts.since, limit }));
      emit(opts, events, (rows) => printTable(rows, ['at', 'type', 'actor', 'ip', 'client_id', 'user_id', 'detail']));
    });
}
