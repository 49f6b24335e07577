#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './audit.js';
import { registerApiCommands } from './apis.js';
import { registerClientCommands } from './clients.js';
import { registerConnectionCommands } from './connections.js';
import { registerKeyCommands } from './keys.js';
import { registerProviderCommands } from './providers.js';
import { registerSecretCommands } from './secrets.js';
import { registerServeCommands } from './serve.js';
import { registerUserCommands } from './users.js';
import { registerWebhookCommands } from './webhooks.js';

/** The version of the package: dist/cli/main.js (and src/cli/main.ts) sit two levels below package.json. */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Errors that carry a stable code for scripts; anything else is reported as internal_error. A usage
 * error points to the help of the command it is about (`commandPath`), unless it says itself what to
 * do instead (an option's value refused by its parser).
 */
function describe(err: unknown, commandPath: string): { error: string; message: string } {
  if (err instanceof CommanderError) {
    // Commander's messages start with "error: " and may put a "(Did you mean …?)" on a line of its own.
    const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
    if (err.code === 'commander.invalidArgument') return { error: 'invalid_usage', message };
    return { error: 'invalid_usage', message: `${message}; see \`${commandPath} --help\`` };
  }
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  return { error: typeof code === 'string' && /^[a-z_]+$/.test(code) ? code : 'internal_error', message };
}

const program = new Command()
  .name('latchkey')
  .description('Latchkey: an OAuth 2.0 authorization server and connection broker')
  .version(version, '-V, --version', 'print the version')
  .exitOverride()
  // Errors are printed once, by the catch below, in the form --json asks for.
  .configureOutput({ outputError: () => undefined });

registerServeCommands(program);
registerApiCommands(program);
registerClientCommands(program);
registerUserCommands(program);
registerKeyCommands(program);
registerSecretCommands(program);
registerProviderCommands(program);
registerConnectionCommands(program);
registerWebhookCommands(program);
registerAuditCommands(program);

interface NamedCommand {
  command: Command;
  /** How it is typed, e.g. `latchkey clients create`. */
  path: string;
  /** The arguments after its name. */
  rest: string[];
}

/** The command the arguments name, as far as they name one (`clients frob` → clients). */
function namedCommand(args: string[], from: NamedCommand = { command: program, path: 'latchkey', rest: [] }): NamedCommand {
  const [first, ...rest] = args;
  const sub = from.command.commands.find((c) => c.name() === first);
  return sub ? namedCommand(rest, { command: sub, path: `${from.path} ${first}`, rest }) : { ...from, rest: args };
}

const named = namedCommand(process.argv.slice(2));
// `help clients create` is `clients create --help`: commander's own help command reads one name only,
// and answers an unknown one with the help printed as an error.
const helpOf = named.rest[0] === 'help' ? namedCommand(named.rest.slice(1), named) : undefined;
try {
  if (helpOf) {
    const unknown = helpOf.rest.find((arg) => !arg.startsWith('-'));
    if (unknown) throw new CommanderError(1, 'commander.unknownCommand', `unknown command '${unknown}'`);
    helpOf.command.help();
  }
  // `latchkey` or `latchkey clients` alone asks what there is to run: answer as --help does (commander
  // would print the help as an error, on stderr with status 1).
  if (named.rest.length === 0 && named.command.commands.length > 0) named.command.help();
  await program.parseAsync(process.argv);
} catch (err) {
  // --help and --version end with an "error" of status 0.
  if (err instanceof CommanderError && err.exitCode === 0) process.exit(0);
  const { error, message } = describe(err, (helpOf ?? named).path);
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify({ error, message }) + '\n');
  else process.stderr.write(`latchkey: ${message}\n`);
  // Exit now: open handles (a worker's channel to its primary, a pool) would otherwise keep a failed
  // process alive. Writes to pipes and files are synchronous here, so nothing printed is lost.
  process.exit(1);
}
