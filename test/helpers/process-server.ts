import pino from 'pino';
import { createClient } from '../../src/admin/clients.js';
import { resolveConfig } from '../../src/config.js';
import { MasterKeyRing } from '../../src/crypto/seal.js';
import { openContext } from '../../src/runtime/open.js';
import { BrowserAgent } from './browser-agent.js';
import { startServeProcess, type ServeProcess } from './cli-process.js';
import { REDIRECT_URI, seed, type Fixture, type TestServer } from './server.js';

/**
 * Latchkey as real `latchkey serve` processes (the built CLI), for tests that signal, kill and
 * restart them: the helpers of cli-process.ts plus what such tests need (the exit, every log line,
 * a base URL on 127.0.0.1, clean-up that never waits forever).
 */

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the exit was seen (performance.now()). */
  at: number;
}

export interface LatchkeyProcess extends ServeProcess {
  /** The server's address on 127.0.0.1 (its ready line names localhost). */
  base: string;
  port: number;
  /** Settles when the process has exited. */
  exited: Promise<Exit>;
  alive(): boolean;
  /** The JSON log lines written so far, parsed (other lines are skipped). */
  logLines(): Record<string, unknown>[];
}

/** Every process the helpers started and clean-up has not reaped yet. */
const started = new Set<LatchkeyProcess>();

/** Starts `latchkey serve --port 0 --database-url <url>` with `env` (LATCHKEY_* settings) and waits until it listens. */
export async function startLatchkey(databaseUrl: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<LatchkeyProcess> {
  const serveProcess = await startServeProcess(['--host', '127.0.0.1', '--database-url', databaseUrl, ...args], env);
  const { child } = serveProcess;
  const exited = new Promise<Exit>((resolve) => {
    const done = () => resolve({ code: child.exitCode, signal: child.signalCode, at: performance.now() });
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once('exit', done);
  });
  const base = serveProcess.url.replace('//localhost:', '//127.0.0.1:');
  const running: LatchkeyProcess = {
    ...serveProcess,
    base,
    port: Number(new URL(base).port),
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    logLines: () =>
      serveProcess
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
  };
  started.add(running);
  void exited.then(() => started.delete(running));
  return running;
}

/** SIGKILLs the process and waits for its exit. */
export async function killHard(server: LatchkeyProcess): Promise<Exit> {
  if (server.alive()) server.child.kill('SIGKILL');
  return server.exited;
}

/**
 * Stops every process still running: SIGTERM, then SIGKILL after `graceMs`, so a server that hangs
 * in shutdown cannot hang the suite. For afterEach/afterAll.
 */
export async function stopAllLatchkeys(graceMs = 5_000): Promise<void> {
  await Promise.all(
    [...started].map(async (server) => {
      if (server.alive()) server.child.kill('SIGTERM');
      const timer = setTimeout(() => server.alive() && server.child.kill('SIGKILL'), graceMs);
      await server.exited;
      clearTimeout(timer);
    }),
  );
}

export interface ProcessFixture extends Fixture {
  masterKey: string;
  /** A second machine client (client_credentials), for "another client is unaffected". */
  otherMachine: { client_id: string; client_secret: string };
}

/**
 * Prepares a database for server processes: migrations, a signing key and the usual cast of
 * `seed` (test/helpers/server.ts), plus a second machine client. Run it before the processes start.
 */
export async function seedDatabase(databaseUrl: string, masterKey = MasterKeyRing.generateText()): Promise<ProcessFixture> {
  const config = resolveConfig({ databaseUrl }, { LATCHKEY_MASTER_KEY: masterKey }, 1);
  const ctx = await openContext(config, pino({ level: 'silent' }), { ensureSigningKey: true });
  try {
    // seed() only uses the server's context.
    const fixture = await seed({ ctx } as TestServer);
    const other = await createClient(ctx, { name: 'Other Job', redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects'], isPublic: false });
    return { ...fixture, masterKey, otherMachine: { client_id: other.client_id, client_secret: other.client_secret! } };
  } finally {
    await ctx.store.close();
  }
}

export const basic = (client: { client_id: string; client_secret: string }): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;

export interface FormAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a form to `path` (with Basic credentials when given); the JSON answer, or `{ unparsed }` when it was not JSON. */
export async function postForm(base: string, path: string, fields: Record<string, string>, authorization?: string, signal?: AbortSignal): Promise<FormAnswer> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization !== undefined && { authorization }) },
    body: new URLSearchParams(fields).toString(),
    ...(signal && { signal }),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { unparsed: text.slice(0, 200) };
  }
  return { status: response.status, headers: response.headers, body };
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
}

/**
 * Runs the authorization code grant through the server's real login and consent pages as `agent`
 * (log-in happens once per agent), and redeems the code: a fresh refresh token family.
 */
export async function obtainRefreshToken(base: string, fixture: Fixture, agent = new BrowserAgent(base)): Promise<TokenPair> {
  const state = `s${Math.random().toString(36).slice(2)}`;
  const url = new URL('/oauth/authorize', base);
  url.search = new URLSearchParams({ client_id: fixture.confidential.client_id, redirect_uri: REDIRECT_URI, response_type: 'code', scope: 'read:projects', state }).toString();
  const callback = await agent.authorize(url, fixture.user);
  const code = callback.searchParams.get('code');
  if (callback.searchParams.get('state') !== state || !code) throw new Error(`unexpected authorization response ${callback.href}`);
  const answer = await postForm(base, '/oauth/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, basic(fixture.confidential));
  if (answer.status !== 200 || typeof answer.body.refresh_token !== 'string') throw new Error(`code exchange failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return { access_token: answer.body.access_token as string, refresh_token: answer.body.refresh_token };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
