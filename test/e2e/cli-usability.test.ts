import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli, startServeProcess } from '../helpers/cli-process.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a new user: none of the LATCHKEY_ settings, except a master key (no warning). */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('LATCHKEY_')));
  return { ...env, LATCHKEY_MASTER_KEY: randomBytes(32).toString('base64') };
}

/** Runs the built CLI as `npx latchkey …` would, in `cwd`. */
function latchkey(args: string[], cwd: string, env = userEnv()): Promise<CliResult> {
  requireBuiltCli();
  return new Promise((resolve) => {
    // The timeout ends a CLI that starts a server instead of answering.
    execFile(process.execPath, [CLI, ...args], { cwd, env, timeout: 20_000 }, (error, stdout, stderr) => {
      const signal = (error as { signal?: string } | null)?.signal;
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: signal ? `${stdout}[killed by ${signal}]` : stdout, stderr });
    });
  });
}

/** A port something else listens on. */
function occupiedPort(): Promise<Server & { port: number }> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(Object.assign(server, { port: (server.address() as { port: number }).port }))),
  );
}

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const dirs: string[] = [];
let dir: string;

beforeEach(() => {
  // realpath: the CLI reports the database by its absolute path, as the process sees its directory.
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'latchkey-cli-')));
  dirs.push(dir);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the CLI as a new user meets it', () => {
  it('prints the help with no arguments, on stdout with status 0, and starts no server', async () => {
    const result = await latchkey([], dir);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: latchkey \[options\] \[command\]/);
    expect(result.stdout).toMatch(/^ {2}serve /m);
    expect(existsSync(join(dir, 'data'))).toBe(false);

    const group = await latchkey(['clients'], dir);
    expect(group).toMatchObject({ code: 0, stderr: '' });
    expect(group.stdout).toMatch(/^Usage: latchkey clients /);
  });

  it('prints help for `help <command>` and `<command> --help`, with status 0', async () => {
    const usageLines: [string[], string][] = [
      [['help'], 'Usage: latchkey [options] [command]'],
      [['help', 'clients'], 'Usage: latchkey clients [options] [command]'],
      [['clients', '--help'], 'Usage: latchkey clients [options] [command]'],
      [['help', 'clients', 'create'], 'Usage: latchkey clients create [options]'],
      [['clients', 'help', 'create'], 'Usage: latchkey clients create [options]'],
      [['clients', 'create', '--help'], 'Usage: latchkey clients create [options]'],
    ];
    for (const [args, usageLine] of usageLines) {
      const result = await latchkey(args, dir);
      expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout.split('\n')[0], args.join(' ')).toBe(usageLine);
    }
  });

  it('prints the version of package.json for --version and -V', async () => {
    for (const flag of ['--version', '-V']) expect(await latchkey([flag], dir)).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('refuses an unknown command, naming it and pointing to the help, rather than starting a server', async () => {
    expect(await latchkey(['frobnicate'], dir)).toEqual({ code: 1, stdout: '', stderr: "latchkey: unknown command 'frobnicate'; see `latchkey --help`\n" });
    expect(await latchkey(['clients', 'frob'], dir)).toEqual({ code: 1, stdout: '', stderr: "latchkey: unknown command 'frob'; see `latchkey clients --help`\n" });
    expect(await latchkey(['help', 'frob'], dir)).toEqual({ code: 1, stdout: '', stderr: "latchkey: unknown command 'frob'; see `latchkey --help`\n" });
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('prints every error once: one line on stderr, or with --json one document on stdout and nothing on stderr', async () => {
    const unknown = "unknown option '--bogus'; see `latchkey clients list --help`";
    expect(await latchkey(['clients', 'list', '--bogus'], dir)).toEqual({ code: 1, stdout: '', stderr: `latchkey: ${unknown}\n` });
    expect(await latchkey(['clients', 'list', '--bogus', '--json'], dir)).toEqual({
      code: 1,
      stdout: JSON.stringify({ error: 'invalid_usage', message: unknown }) + '\n',
      stderr: '',
    });

    const missing = "required option '--grant-type <grant>' not specified; see `latchkey clients create --help`";
    expect(await latchkey(['clients', 'create', '--name', 'x'], dir)).toEqual({ code: 1, stdout: '', stderr: `latchkey: ${missing}\n` });
  });

  it('refuses a value with whitespace for a repeated flag, telling to repeat the flag', async () => {
    const refused: [string[], string][] = [
      [['clients', 'create', '--name', 'x', '--grant-type', 'client_credentials', '--scope', 'read write'], '--scope read --scope write'],
      [['clients', 'create', '--name', 'x', '--grant-type', 'authorization_code refresh_token', '--scope', 'read'], '--grant-type authorization_code --grant-type refresh_token'],
      [['clients', 'create', '--name', 'x', '--grant-type', 'authorization_code', '--scope', 'read', '--redirect-uri', 'http://localhost/a http://localhost/b'], '--redirect-uri http://localhost/a --redirect-uri http://localhost/b'],
      [['apis', 'create', '--identifier', 'https://api.example.com', '--name', 'API', '--scope', 'read write=Read and write'], '--scope read --scope write'],
      [['providers', 'configure', 'github', '--client-id', 'a', '--client-secret', 'b', '--scope', 'repo user'], '--scope repo --scope user'],
    ];
    for (const [args, advice] of refused) {
      const result = await latchkey([...args, '--json'], dir);
      expect(result.code, args.join(' ')).toBe(1);
      expect(JSON.parse(result.stdout), args.join(' ')).toEqual({ error: 'invalid_usage', message: expect.stringContaining(`Repeat the flag once per value: ${advice}`) });
    }
    expect(existsSync(join(dir, 'data'))).toBe(false);

    // An API scope's description, after the `=`, is text and may have spaces.
    const api = await latchkey(['apis', 'create', '--identifier', 'https://api.example.com', '--name', 'API', '--scope', 'read:projects=Read your projects', '--json'], dir);
    expect(api.code, api.stdout).toBe(0);
    expect(JSON.parse(api.stdout)).toMatchObject({ scope_descriptions: { 'read:projects': 'Read your projects' } });
  });

  it('says on stderr when a data command creates a new database, and only then; --json output stays one document', async () => {
    const notice = `latchkey: created a new database at ${join(dir, 'data', 'latchkey.db')} (pass --data-dir or --database-url to use another)\n`;
    expect(await latchkey(['clients', 'list', '--json'], dir)).toEqual({ code: 0, stdout: '[]\n', stderr: notice });
    expect(await latchkey(['clients', 'list', '--json'], dir)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
  });

  it('says on stderr which database serve creates', async () => {
    const server = await startServeProcess(['--data-dir', dir], userEnv());
    try {
      const notice = `latchkey: created a new database at ${join(dir, 'latchkey.db')} (pass --data-dir or --database-url to use another)\n`;
      // The notice follows the ready line, once the start is over.
      for (let tries = 0; !server.output().includes(notice) && tries < 50; tries++) await new Promise((r) => setTimeout(r, 100));
      expect(server.output()).toContain(notice);
    } finally {
      await server.stop();
    }
  });

  describe('serve on a port in use', () => {
    let occupied: Server & { port: number };
    beforeEach(async () => {
      occupied = await occupiedPort();
      // An existing database, so that the port is all there is to say.
      expect((await latchkey(['migrate', '--data-dir', dir], dir)).code).toBe(0);
    });
    afterEach(() => void occupied.close());

    it('prints one line and exits 1', async () => {
      const line = `latchkey: port ${occupied.port} on 127.0.0.1 is already in use; pass --port or set LATCHKEY_PORT\n`;
      expect(await latchkey(['serve', '--port', String(occupied.port), '--data-dir', dir], dir)).toEqual({ code: 1, stdout: '', stderr: line });
    });

    it('prints one JSON document with --json', async () => {
      const result = await latchkey(['serve', '--port', String(occupied.port), '--data-dir', dir, '--json'], dir);
      expect(result).toEqual({
        code: 1,
        stdout: JSON.stringify({ error: 'invalid_config', message: `port ${occupied.port} on 127.0.0.1 is already in use; pass --port or set LATCHKEY_PORT` }) + '\n',
        stderr: '',
      });
    });

    it('says so with --workers 2 too, without a stack trace', async () => {
      const result = await latchkey(['serve', '--port', String(occupied.port), '--data-dir', dir, '--workers', '2'], dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`latchkey: port ${occupied.port} on 127.0.0.1 is already in use; pass --port or set LATCHKEY_PORT\n`);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    });
  });
});
