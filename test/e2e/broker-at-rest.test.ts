import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, PROVIDER, startBrokerAndProvider, stopAll, type BrokerSetup } from '../helpers/broker.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import type { TestServer } from '../helpers/server.js';
import { connectThroughProxy, TokenProxy } from '../helpers/token-proxy.js';

/**
 * Every form in which `secret` could sit inside stored or logged bytes: raw, URL- and form-encoded,
 * JSON-escaped, hex, and base64 / base64url at each of the three alignments it could have inside a
 * longer encoded value (only the characters that depend on the secret alone).
 */
function encodings(secret: string): Map<string, string> {
  const bytes = Buffer.from(secret, 'utf8');
  const url = encodeURIComponent(secret);
  const forms = new Map<string, string>([
    ['raw', secret],
    ['url-encoded', url],
    ['url-encoded (lower case)', url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
    ['form-encoded', new URLSearchParams({ x: secret }).toString().slice(2)],
    ['JSON-escaped', JSON.stringify(secret).slice(1, -1)],
    ['hex', bytes.toString('hex')],
    ['HEX', bytes.toString('hex').toUpperCase()],
  ]);
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const [start, end] = [Math.ceil((offset * 8) / 6), Math.floor((padded.length * 8) / 6)];
    forms.set(`base64 (+${offset})`, padded.toString('base64').slice(start, end));
    forms.set(`base64url (+${offset})`, padded.toString('base64url').slice(start, end));
  }
  return forms;
}

/** What of `secrets` shows in `text`, in which encoding. */
function revealed(text: string, secrets: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [name, secret] of secrets) {
    for (const [encoding, form] of encodings(secret)) if (text.includes(form)) found.push(`${name} (${encoding})`);
  }
  return found;
}

/** The bytes of the SQLite database (file, WAL and shared memory), or every row of every PostgreSQL table as text. */
async function databaseText(server: TestServer): Promise<string> {
  if (server.db.kind === 'sqlite') {
    const file = server.db.url.slice('sqlite:'.length);
    return [file, `${file}-wal`, `${file}-shm`].filter(existsSync).map((f) => readFileSync(f).toString('latin1')).join('\n');
  }
  const client = new pg.Client({ connectionString: server.db.url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>('select table_name from information_schema.tables where table_schema = current_schema()');
    const parts: string[] = [];
    for (const { table_name } of tables.rows) {
      const rows = await client.query<{ row: string }>(`select t::text as row from "${table_name}" t`);
      parts.push(...rows.rows.map((r) => r.row));
    }
    return parts.join('\n');
  } finally {
    await client.end();
  }
}

describe.each(DATABASE_KINDS)('broker secrets at rest and in logs (%s)', (kind) => {
  let setup: BrokerSetup;
  let proxy: TokenProxy;
  let receiver: Server;
  beforeAll(async () => {
    setup = await startBrokerAndProvider(kind);
    proxy = await TokenProxy.start(setup.provider.url);
    receiver = createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    receiver?.closeAllConnections();
    receiver?.close();
    await proxy?.close();
    await stopAll(setup);
  });

  it('keeps no token, secret, key, code, verifier or portal token readable in the database or the logs', async () => {
    const { broker, brokerFixture, client } = setup;
    const hook = await api(setup, '/api/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` }) });
    expect(hook.status).toBe(201);
    const webhook = (await hook.json()) as { id: string; secret: string };

    // A browser connection, then a refresh of it.
    const { connectionId, browser } = await connectThroughProxy(setup, proxy);
    await broker.ctx.store.connections.update(connectionId, { refreshAt: Date.now() - 1 });
    expect((await api(setup, `/api/v1/credentials/oauth/connections/${PROVIDER}/token?user_id=${brokerFixture.user.id}`)).status).toBe(200);

    // A client-credentials provider's token.
    const machine = await api(setup, '/api/v1/credentials/oauth/register', {
      method: 'POST',
      body: JSON.stringify({
        provider_name: 'acme-machine',
        client_id: client.client_id,
        client_secret: client.client_secret,
        token_data: { token_url: proxy.tokenUrl, scopes: ['read:projects'], grant_type: 'client_credentials' },
      }),
    });
    expect(machine.status, await machine.clone().text()).toBe(201);
    expect((await api(setup, '/api/v1/credentials/oauth/connections/acme-machine/token')).status).toBe(200);

    // A portal connection, authorized through its link.
    const portal = (await (await api(setup, '/api/v1/connections', { method: 'POST', body: JSON.stringify({ provider_name: PROVIDER, user_id: 'customer-42' }) })).json()) as { id: string };
    const { authorizationURL } = (await (await api(setup, `/api/v1/connections/${portal.id}/oauth2`)).json()) as { authorizationURL: string };
    const portalToken = new URL(authorizationURL).pathname.split('/').at(-1)!;
    const toProvider = await browser.atBroker.get(new URL(authorizationURL).pathname);
    expect(toProvider.status).toBe(302);
    const landed = await browser.callback(await browser.consent(new URL(toProvider.headers.get('location')!)));
    expect(landed.status, await landed.clone().text()).toBe(200);
    expect((await api(setup, `/api/v1/connections/${portal.id}/token`)).status).toBe(200);

    // The webhook was delivered (signed with its secret) for the portal connection.
    for (let i = 0; i < 100; i++) {
      const deliveries = (await (await api(setup, `/api/v1/webhooks/${webhook.id}/deliveries`)).json()) as { status: string }[];
      if (deliveries.some((d) => d.status === 'delivered')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const grants = proxy.exchanges.map((e) => e.params.get('grant_type'));
    expect(grants.filter((g) => g === 'authorization_code')).toHaveLength(2);
    expect(grants).toContain('refresh_token');
    expect(grants).toContain('client_credentials');
    const secrets = new Map<string, string>([
      ['provider client secret', client.client_secret],
      ['webhook secret', webhook.secret],
      ['API key', brokerFixture.apiKey],
      ['portal token', portalToken],
      ['master key', broker.masterKey],
      ['password', brokerFixture.user.password],
    ]);
    proxy.exchanges.forEach((exchange, i) => {
      for (const field of ['code', 'code_verifier', 'refresh_token']) {
        const value = exchange.params.get(field);
        if (value) secrets.set(`${field} sent in exchange ${i}`, value);
      }
      for (const field of ['access_token', 'refresh_token', 'id_token']) {
        const value = exchange.body?.[field];
        if (typeof value === 'string') secrets.set(`${field} issued in exchange ${i}`, value);
      }
    });
    expect([...secrets.keys()].filter((name) => name.startsWith('code_verifier'))).toHaveLength(2);

    const stored = await databaseText(broker);
    expect(stored).toContain(connectionId);
    expect(revealed(stored, secrets), 'in the database').toEqual([]);
    const logs = broker.logs();
    expect(logs).toContain(`/api/v1/connections/${portal.id}/token`);
    expect(revealed(logs, secrets), 'in the logs').toEqual([]);
  });
});
