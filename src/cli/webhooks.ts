import type { Command } from 'commander';
import { createWebhook, deleteWebhook, listWebhooks, parseWebhookBody, webhookDeliveries } from '../broker/webhooks.js';
import { withContext, type StoreOptions } from './context.js';
import { collectWords, storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

export function registerWebhookCommands(program: Command): void {
  const webhooks = program.command('webhooks').description('receivers told when a connection changes');

  storeOptions(webhooks.command('create').description('register a receiver; its signing secret is shown once'))
    .requiredOption('--url <url>', 'where to POST events (https, or http on loopback)')
    .option('--event <type>', 'an event to send (default: all); repeat for more', collectWords('--event'))
    .option('--secret <secret>', 'the signing secret to use (default: generated)')
    .action(async (opts: StoreOptions & { url: string; event?: string[]; secret?: string }) => {
      const body = parseWebhookBody({ url: opts.url, ...(opts.event && { events: opts.event }), ...(opts.secret && { secret: opts.secret }) });
      emit(opts, await withContext(opts, (ctx) => createWebhook(ctx, body)), (w) => {
        printRecord(w);
        process.stdout.write('\nStore the secret now: it is not shown again.\n');
      });
    });

  storeOptions(webhooks.command('list').description('list receivers')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listWebhooks), (rows) => printTable(rows, ['id', 'url', 'events', 'created_at']));
  });

  storeOptions(webhooks.command('delete').argument('<id>', 'webhook id').description('delete a receiver and its delivery log')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => deleteWebhook(ctx, id)), printRecord);
  });

  storeOptions(webhooks.command('deliveries').argument('<id>', 'webhook id').description('the delivery log, newest first')).action(async (id: string, opts: StoreOptions) => {
    emit(opts, await withContext(opts, (ctx) => webhookDeliveries(ctx, id)), (rows) =>
      printTable(rows, ['id', 'type', 'status', 'attempts', 'last_status_code', 'next_attempt_at', 'created_at']),
    );
  });
}
