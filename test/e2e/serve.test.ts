import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MasterKeyRing } from '../../src/crypto/seal.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface Started {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `latchkey serve` as a user would and waits for its ready line. */
function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/localhost:\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, stdout: () => out, stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited with ${code}: ${err}`), { code, stderr: err }));
    });
  });
}

function stop(started: Started | undefined): Promise<void> {
  if (!started || started.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    started.child.once('exit', () => resolve());
    started.child.kill('SIGTERM');
  });
}

describe('latchkey serve', () => {
  let running: Started | undefined;
  const dirs: string[] = [];
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await stop(running);
    running = undefined;
  });
  afterAll(async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await db?.drop();
  });

  it('starts on SQLite with a generated master key and a loud warning, keys published', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    dirs.push(dir);
    running = await serve(['--data-dir', dir], { LATCHKEY_MASTER_KEY: '' });
    expect(running.stderr()).toContain('WARNING: LATCHKEY_MASTER_KEY is not set');
    expect(running.stderr()).toContain('development only');
    expect(existsSync(join(dir, 'latchkey.db'))).toBe(true);
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);

    const metadata = (await (await fetch(`${running.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string };
    expect(metadata.issuer).toBe(running.url);
    const jwks = (await (await fetch(`${running.url}/.well-known/jwks.json`)).json()) as { keys: { alg: string }[] };
    expect(jwks.keys.map((k) => k.alg)).toEqual(['RS256']);
  });

  it('prints the ready line as JSON with --json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    dirs.push(dir);
    running = await serve(['--data-dir', dir, '--json']);
    const line = JSON.parse(running.stdout().trim().split('\n')[0]!) as { message: string; issuer: string; workers: number };
    expect(line).toEqual({ message: `latchkey listening on ${running.url}`, issuer: running.url, workers: 1 });
  });

  it('exits with an error when its workers cannot start, instead of hanging', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-serve-'));
    dirs.push(dir);
    running = await serve(['--data-dir', dir]);
    const taken = new URL(running.url).port;
    const child = spawn(process.execPath, [CLI, 'serve', '--port', taken, '--data-dir', dir, '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('a worker failed to start');
  });

  it('refuses to start on PostgreSQL without LATCHKEY_MASTER_KEY', async () => {
    db = await createTestDatabase('postgres');
    await expect(serve(['--database-url', db.url], { LATCHKEY_MASTER_KEY: '' })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('LATCHKEY_MASTER_KEY is required with PostgreSQL'),
    });
  });

  it('runs several workers on PostgreSQL that share the port and the keys', async () => {
    db ??= await createTestDatabase('postgres');
    running = await serve(['--database-url', db.url, '--workers', '2', '--log-level', 'info'], { LATCHKEY_MASTER_KEY: MasterKeyRing.generateText() });
    expect(running.stdout()).toContain('(2 workers)');
    const kids = new Set<string>();
    for (let i = 0; i < 12; i++) {
      // A new connection each time: the workers take turns accepting connections.
      const jwks = (await (await fetch(`${running.url}/.well-known/jwks.json`, { headers: { connection: 'close' } })).json()) as { keys: { kid: string }[] };
      for (const k of jwks.keys) kids.add(k.kid);
    }
    // Both workers publish the one key the primary created.
    expect(kids.size).toBe(1);
    const pidsThatServed = () => new Set([...running!.stdout().matchAll(/"pid":(\d+)[^\n]*"path":"\/\.well-known\/jwks\.json"/g)].map((m) => m[1]));
    for (let i = 0; i < 50 && pidsThatServed().size < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidsThatServed().size).toBe(2);
  });
});
