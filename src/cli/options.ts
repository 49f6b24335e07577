import type { Command } from 'commander';

/** Repeatable flags (`--scope a --scope b`) collect into an array. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The options every command that touches data takes. */
export function storeOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'where the SQLite file and dev keys live (env LATCHKEY_DATA_DIR)')
    .option('--database-url <url>', 'sqlite:PATH or postgres://… (env LATCHKEY_DATABASE_URL)')
    .option('--json', 'print one JSON document');
}
