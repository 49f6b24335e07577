import type { Command } from 'commander';
import { createUser, deleteUser, listUsers } from '../admin/users.js';
import { withContext, type StoreOptions } from './context.js';
import { storeOptions } from './options.js';
import { emit, printRecord, printTable } from './output.js';

export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('people who sign in on the login page');

  storeOptions(users.command('create').description('create a user; prints the id, which is the sub of their tokens'))
    .requiredOption('--username <name>', 'what they type on the login page')
    .requiredOption('--password <password>', 'at least 8 characters (hashed with scrypt)')
    .option('--admin', 'mark the user as an administrator')
    .action(async (opts: StoreOptions & { username: string; password: string; admin?: boolean }) => {
      emit(opts, await withContext(opts, (ctx) => createUser(ctx, { username: opts.username, password: opts.password, isAdmin: opts.admin ?? false })), printRecord);
    });

  storeOptions(users.command('list').description('list users')).action(async (opts: StoreOptions) => {
    emit(opts, await withContext(opts, listUsers), (list) => printTable(list, ['id', 'username', 'admin', 'created_at']));
  });

  storeOptions(users.command('delete').argument('<user>', 'id or username').description('delete a user and revoke what they authorized')).action(
    async (user: string, opts: StoreOptions) => {
      emit(opts, await withContext(opts, (ctx) => deleteUser(ctx, user)), (r) => process.stdout.write(`deleted user ${r.id}\n`));
    },
  );
}
