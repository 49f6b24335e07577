#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerApiCommands } from './apis.js';
import { registerClientCommands } from './clients.js';
import { registerConnectionCommands } from './connections.js';
import { registerKeyCommands } from './keys.js';
import { registerProviderCommands } from './providers.js';
import { registerSecretCommands } from './secrets.js';
import { registerServeCommands } from './serve.js';
import { registerUserCommands } from './users.js';
import { registerWebhookCommands } from './webhooks.js';

/** Errors that carry a stable code for scripts; anything else is reported as internal_error. */
function describe(err: unknown): { error: string; message: string } {
  if (err instanceof CommanderError) return { error: 'invalid_usage', message: err.message.replace(/^error: /, '') };
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return { error: typeof code === 'string' && /^[a-z_]+$/.test(code) ? code : 'internal_error', message };
}

const program = new Command()
  .name('latchkey')
  .description('Latchkey: an OAuth 2.0 authorization server and connection broker')
  .exitOverride()
  .configureOutput({ writeErr: (text) => (process.argv.includes('--json') ? undefined : process.stderr.write(text)) });

registerServeCommands(program);
registerApiCommands(program);
registerClientCommands(program);
registerUserCommands(program);
registerKeyCommands(program);
registerSecretCommands(program);
registerProviderCommands(program);
registerConnectionCommands(program);
registerWebhookCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)) {
    process.exit(0);
  }
  const { error, message } = describe(err);
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ error, message }) + '\n');
  else process.stderr.write(`latchkey: ${message}\n`);
  // Exit now: open handles (a worker's channel to its primary, a pool) would otherwise keep a failed
  // process alive. Writes to pipes and files are synchronous here, so nothing printed is lost.
  process.exit(1);
}
