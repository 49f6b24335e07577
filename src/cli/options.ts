import { InvalidArgumentError, type Command } from 'commander';

/** Repeatable flags (`--param a=1 --param b=2`) collect into an array. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * A repeatable flag whose values are single words (scopes, grant types, URIs, event types). A value
 * with whitespace, as in `--scope "a b"`, is refused with how to give several values, rather than
 * taken as one value that fails later with a less helpful message. `word` picks the part that must be
 * one word: for `NAME=description`, the name.
 */
export function collectWords(flag: string, word: (value: string) => string = (value) => value) {
  return (value: string, previous: string[] = []): string[] => {
    if (/\s/.test(word(value))) {
      const repeated = word(value).trim().split(/\s+/).map((part) => `${flag} ${part}`).join(' ');
      throw new InvalidArgumentError(`Repeat the flag once per value: ${repeated}`);
    }
    return [...previous, value];
  };
}

/** The options every command that touches data takes. */
export function storeOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'where the SQLite file and dev keys live (env LATCHKEY_DATA_DIR)')
    .option('--database-url <url>', 'sqlite:PATH or postgres://… (env LATCHKEY_DATABASE_URL)')
    .option('--json', 'print one JSON document');
}
