import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '../../src/admin/users.js';
import { MasterKeyRing } from '../../src/crypto/seal.js';
import { authorizeThroughLink, introspectAtProvider, PROVIDER, startBrokerAndProvider, stopAll, type BrokerSetup, type ProviderUser } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';

/** The built CLI, as `npx latchkey` runs it (npm test builds first). */
const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against the broker's database, with the broker's master key unless `masterKey` says otherwise. */
function latchkey(setup: BrokerSetup, args: string[], masterKey = setup.broker.masterKey): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--database-url', setup.broker.db.url],
      { env: { ...process.env, LATCHKEY_MASTER_KEY: masterKey }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const signal = (error as { signal?: string } | null)?.signal;
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: signal ? `${stdout}[killed by ${signal}]` : stdout, stderr });
      },
    );
  });
}

/** A command with `--json`: it succeeds, says nothing on stderr, and its stdout is exactly one JSON document. */
async function json<T = Record<string, unknown>>(setup: BrokerSetup, args: string[], masterKey?: string): Promise<T> {
  const result = await latchkey(setup, [...args, '--json'], masterKey);
  expect(result.stderr, result.stderr).toBe('');
  expect(result.code, result.stdout).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/**
 * `connections auth`, which prints a link and then waits for the customer: started in the
 * background, with its output readable while it runs.
 */
function startAuth(setup: BrokerSetup, args: string[]): { output: () => string; exited: Promise<CliResult>; kill: () => void } {
  const child = spawn(process.execPath, [CLI, 'connections', 'auth', ...args, '--issuer', setup.broker.url, '--timeout', '60', '--database-url', setup.broker.db.url], {
    env: { ...process.env, LATCHKEY_MASTER_KEY: setup.broker.masterKey },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { output: () => stdout + stderr, exited, kill: () => child.kill() };
}

/** Polls until `check` returns a value; bounded, so a broken command fails the test instead of hanging it. */
async function until<T>(ms: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not seen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `connections auth`, consents through its link as `user`, and returns the finished command. */
async function authorize(setup: BrokerSetup, args: string[], user: ProviderUser): Promise<CliResult & { link: string }> {
  const auth = startAuth(setup, args);
  try {
    const link = await until(20_000, () => /https?:\/\/\S+\/connect\/[A-Za-z0-9_-]+/.exec(auth.output())?.[0]);
    // It says it waits before anyone has consented.
    await until(5_000, () => (/waiting/.test(auth.output()) ? true : undefined));
    await authorizeThroughLink(setup, link, user);
    return { ...(await auth.exited), link };
  } finally {
    auth.kill();
  }
}

interface ConnectionJson {
  id: string;
  provider_name: string;
  user_id: string | null;
  status: string;
  scopes: string[];
}

// Each CLI call starts a process that opens the database: allow for a loaded machine.
describe.each(DATABASE_KINDS)('broker CLI beside a running broker (%s)', { timeout: 90_000 }, (kind) => {
  let setup: BrokerSetup;
  let bob: ProviderUser;
  // Two master keys: the server seals under "new" and can open both, so a rotation to either keeps it working.
  const oldKey = MasterKeyRing.generateText();
  const newKey = MasterKeyRing.generateText();

  beforeAll(async () => {
    setup = await startBrokerAndProvider(kind, { broker: { masterKey: `old:${oldKey},new:${newKey}`, logLevel: 'warn' } });
    bob = { username: 'bob', password: 'bob battery staple' };
    await createUser(setup.provider.ctx, { ...bob, isAdmin: false });
  });
  afterAll(async () => stopAll(setup));

  const configure = () => [
    'providers', 'configure', PROVIDER,
    '--client-id', setup.client.client_id,
    '--client-secret', setup.client.client_secret,
    '--authorize-url', `${setup.provider.url}/oauth/authorize`,
    '--token-url', `${setup.provider.url}/oauth/token`,
    '--revoke-url', `${setup.provider.url}/oauth/revoke`,
    '--scope', 'read:projects',
  ];

  it('configures a provider, and again updates the same one', async () => {
    const created = await json<{ provider_id: string; created: boolean }>(setup, configure());
    expect(created).toEqual({ provider_id: expect.stringMatching(/^prv_/), provider_name: PROVIDER, app_id: null, created: true });
    const updated = await json(setup, configure());
    expect(updated).toEqual({ ...created, created: false });

    const human = await latchkey(setup, configure());
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(`updated provider ${PROVIDER} (${created.provider_id})\n`);
    expect(human.stdout + human.stderr).not.toContain(setup.client.client_secret);
  });

  it('lists providers as JSON and as a table, never with the secret', async () => {
    const list = await json<Record<string, unknown>[]>(setup, ['providers', 'list']);
    expect(list).toEqual([
      expect.objectContaining({
        provider_name: PROVIDER,
        app_id: null,
        grant_type: 'authorization_code',
        authorize_url: `${setup.provider.url}/oauth/authorize`,
        token_url: `${setup.provider.url}/oauth/token`,
        revoke_url: `${setup.provider.url}/oauth/revoke`,
        scopes: ['read:projects'],
      }),
    ]);
    const table = await latchkey(setup, ['providers', 'list']);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.split('\n');
    expect(header).toMatch(/^PROVIDER_ID\s+PROVIDER_NAME\s+APP_ID\s+GRANT_TYPE\s+TOKEN_URL\s+SCOPES$/);
    expect(row).toMatch(new RegExp(`^prv_\\S+\\s+${PROVIDER}\\s+-\\s+authorization_code\\s+\\S+/oauth/token\\s+read:projects$`));
    for (const output of [JSON.stringify(list), table.stdout]) expect(output).not.toContain(setup.client.client_secret);
  });

  it('authorizes a connection: prints the link, waits, and prints the connection once the customer consents', async () => {
    const auth = await authorize(setup, [PROVIDER, '--user-id', 'cust-1'], setup.providerFixture.user);
    expect(auth.link.startsWith(`${setup.broker.url}/connect/`)).toBe(true);
    expect(auth.code, auth.stderr).toBe(0);
    const [linkPart, result] = auth.stdout.split(/\n(?=connected: )/);
    expect(linkPart).toContain(auth.link);
    // The waiting notice goes to stderr, so stdout holds only the link and the result.
    expect(auth.stderr).toMatch(/waiting/);
    expect(auth.stdout).not.toMatch(/waiting/);
    expect(result).toMatch(new RegExp(`^connected: ${PROVIDER} \\(conn_\\S+\\), scopes read:projects\\n$`));
  });

  it('authorizes with --json: the link on stderr, one JSON document (the connection) on stdout', async () => {
    const auth = await authorize(setup, [PROVIDER, '--user-id', 'cust-2', '--json'], bob);
    expect(auth.code, auth.stderr).toBe(0);
    expect(auth.stderr).toContain(auth.link);
    expect(JSON.parse(auth.stdout)).toMatchObject({ id: expect.stringMatching(/^conn_/), provider_name: PROVIDER, user_id: 'cust-2', status: 'active', scopes: ['read:projects'] });
  });

  it('re-authorizing an active connection waits for the new consent, then keeps the connection id', async () => {
    const [before] = await json<ConnectionJson[]>(setup, ['connections', 'list', '--user-id', 'cust-2']);
    // Nobody opens this link: the command must give up, not report the earlier authorization as this one.
    const unanswered = await latchkey(setup, ['connections', 'auth', PROVIDER, '--user-id', 'cust-2', '--issuer', setup.broker.url, '--timeout', '2', '--json']);
    expect(unanswered.code, unanswered.stdout).not.toBe(0);
    expect(JSON.parse(unanswered.stdout)).toMatchObject({ error: 'pending' });

    const again = await authorize(setup, [PROVIDER, '--user-id', 'cust-2', '--json'], bob);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: before!.id, status: 'active' });
  });

  it('lists connections as JSON and as a table', async () => {
    const list = await json<ConnectionJson[]>(setup, ['connections', 'list']);
    expect(list.map((c) => [c.user_id, c.status]).sort()).toEqual([
      ['cust-1', 'active'],
      ['cust-2', 'active'],
    ]);
    const mine = await json<ConnectionJson[]>(setup, ['connections', 'list', '--user-id', 'cust-1']);
    expect(mine).toEqual([expect.objectContaining({ provider_name: PROVIDER, user_id: 'cust-1', status: 'active', scopes: ['read:projects'] })]);
    const table = await latchkey(setup, ['connections', 'list', '--user-id', 'cust-1']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+PROVIDER_NAME\s+USER_ID\s+APP_ID\s+STATUS\s+SCOPES\s+EXPIRES_AT$/);
    expect(table.stdout).toContain(mine[0]!.id);
  });

  it('prints credentials the provider accepts', async () => {
    const creds = await json<{ access_token: string; token_type: string; scopes: string[]; connection_id: string }>(setup, ['connections', 'token', PROVIDER, '--user-id', 'cust-1']);
    const [connection] = await json<ConnectionJson[]>(setup, ['connections', 'list', '--user-id', 'cust-1']);
    expect(creds).toMatchObject({ token_type: 'Bearer', scopes: ['read:projects'], connection_id: connection!.id });
    expect(await introspectAtProvider(setup, creds.access_token)).toMatchObject({ active: true, sub: setup.providerFixture.user.id, client_id: setup.client.client_id });
  });

  it('re-seals every secret under the newest master key, and the server keeps working', async () => {
    const stale = await json<{ master_key_id: string; resealed: number; by_column: Record<string, number>; skipped: number }>(setup, ['secrets', 'rotate']);
    expect(Object.keys(stale).sort()).toEqual(['by_column', 'master_key_id', 'resealed', 'skipped']);
    // Everything is sealed under the server's newest key already.
    expect(stale).toMatchObject({ master_key_id: 'new', resealed: 0, skipped: 0 });
    expect(stale.by_column).toMatchObject({ 'providers.client_secret_sealed': 0, 'connections.access_token_sealed': 0, 'connections.refresh_token_sealed': 0 });

    // A ring whose newest key is "old": everything moves to it.
    const moved = await json<typeof stale>(setup, ['secrets', 'rotate'], `new:${newKey},old:${oldKey}`);
    expect(moved).toMatchObject({ master_key_id: 'old', skipped: 0 });
    expect(moved.by_column).toMatchObject({ 'providers.client_secret_sealed': 1, 'connections.access_token_sealed': 2, 'connections.refresh_token_sealed': 2 });
    expect(moved.resealed).toBe(Object.values(moved.by_column).reduce((a, b) => a + b, 0));

    const creds = await json<{ access_token: string }>(setup, ['connections', 'token', PROVIDER, '--user-id', 'cust-2']);
    expect(await introspectAtProvider(setup, creds.access_token)).toMatchObject({ active: true });
    const back = await json<typeof stale>(setup, ['secrets', 'rotate']);
    expect(back).toMatchObject({ master_key_id: 'new', skipped: 0 });
    expect(back.by_column).toMatchObject({ 'providers.client_secret_sealed': 1, 'connections.access_token_sealed': 2, 'connections.refresh_token_sealed': 2 });
  });

  it('revokes a connection at the provider', async () => {
    const creds = await json<{ access_token: string; connection_id: string }>(setup, ['connections', 'token', PROVIDER, '--user-id', 'cust-1']);
    const revoked = await json(setup, ['connections', 'revoke', PROVIDER, '--user-id', 'cust-1']);
    expect(revoked).toEqual({ success: true, id: creds.connection_id, provider_revoked: true });
    expect(await introspectAtProvider(setup, creds.access_token)).toEqual({ active: false });
    expect(await json(setup, ['connections', 'list', '--user-id', 'cust-1'])).toEqual([]);

    const again = await latchkey(setup, ['connections', 'revoke', PROVIDER, '--user-id', 'cust-1', '--json']);
    expect(again.code).not.toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ error: 'not_found', message: expect.any(String) });
  });

  it('refuses to delete a provider with connections unless forced, which revokes them', async () => {
    const creds = await json<{ access_token: string }>(setup, ['connections', 'token', PROVIDER, '--user-id', 'cust-2']);
    const refused = await latchkey(setup, ['providers', 'delete', PROVIDER, '--json']);
    expect(refused.code).not.toBe(0);
    expect(JSON.parse(refused.stdout)).toEqual({ error: 'provider_in_use', message: expect.any(String) });
    const human = await latchkey(setup, ['providers', 'delete', PROVIDER]);
    expect(human.code).not.toBe(0);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/^latchkey: .*connection/);
    expect(await json(setup, ['providers', 'list'])).toHaveLength(1);

    const deleted = await json(setup, ['providers', 'delete', PROVIDER, '--force']);
    expect(deleted).toMatchObject({ success: true, connections_revoked: 1 });
    expect(await introspectAtProvider(setup, creds.access_token)).toEqual({ active: false });
    expect(await json(setup, ['providers', 'list'])).toEqual([]);
    expect(await json(setup, ['connections', 'list'])).toEqual([]);
  });
});
