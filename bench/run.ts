import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, generateKeyPair } from 'jose';
import { accessTokenClaims } from '../src/core/access-token.js';

/**
 * The benchmark suite's foundation: what one server process sustains on the token endpoint, next to
 * what signing alone costs on one core. The server runs in its own process (one core), the load comes
 * from this one; all traffic stays on 127.0.0.1 and every phase is bounded in time.
 */
const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = 16;

function progress(message: string): void {
  process.stderr.write(`… ${message}\n`);
}

async function signingAlone(alg: 'RS256' | 'ES256' | 'EdDSA'): Promise<number> {
  const { privateKey } = await generateKeyPair(alg);
  const claims = accessTokenClaims({ issuer: 'http://localhost', subject: 's', audience: 'https://api', clientId: 'c', scopes: ['read'], jti: 'j', now: Date.now(), ttlSeconds: 3600 });
  const end = Date.now() + SECONDS * 1000;
  let count = 0;
  while (Date.now() < end) {
    await new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', kid: 'k' }).sign(privateKey);
    count++;
  }
  return count / SECONDS;
}

function cli(dataDir: string, args: string[]): Record<string, string> {
  return JSON.parse(execFileSync(process.execPath, [CLI, ...args, '--data-dir', dataDir, '--json'], { env: { ...process.env, LATCHKEY_MASTER_KEY: '' }, stdio: ['ignore', 'pipe', 'ignore'] }).toString()) as Record<string, string>;
}

async function startServer(dataDir: string, alg: string): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'error', '--signing-alg', alg], { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /listening on (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

interface LoadResult {
  perSecond: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Keeps CONCURRENCY requests in flight for SECONDS and measures throughput and latency. */
async function load(request: () => Promise<Response>): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const started = performance.now();
        const response = await request();
        await response.arrayBuffer();
        if (response.status !== 200) errors++;
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), errors };
}

const rows: string[][] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'latchkey-bench-'));
try {
  progress('creating an API and a machine client');
  cli(dataDir, ['apis', 'create', '--identifier', 'https://api.example.com', '--name', 'Bench', '--scope', 'read:projects']);
  const client = cli(dataDir, ['clients', 'create', '--name', 'bench', '--grant-type', 'client_credentials', '--scope', 'read:projects']);
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id!, client_secret: client.client_secret! }).toString();

  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    progress(`signing alone with ${alg} for ${SECONDS} s`);
    const signing = await signingAlone(alg);
    progress(`token endpoint (client credentials, ${alg}) for ${SECONDS} s at ${CONCURRENCY} in flight`);
    const server = await startServer(dataDir, alg);
    try {
      const result = await load(() =>
        fetch(`${server.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }),
      );
      rows.push([alg, signing.toFixed(0), result.perSecond.toFixed(0), `${((100 * result.perSecond) / signing).toFixed(0)}%`, result.p50.toFixed(1), result.p99.toFixed(1), String(result.errors)]);
    } finally {
      server.stop();
    }
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const header = ['alg', 'sign/s (1 core)', 'token req/s', 'of signing', 'p50 ms', 'p99 ms', 'errors'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
process.stdout.write(`\nclient_credentials token endpoint, one server process (SQLite), ${CONCURRENCY} requests in flight, ${SECONDS} s per run\n`);
process.stdout.write(line(header) + '\n');
for (const r of rows) process.stdout.write(line(r) + '\n');
