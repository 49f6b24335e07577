import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Config } from '../../src/config.js';
import { api, PROVIDER, registrationBody, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from './broker.js';

/** One request that reached the proxy's token endpoint, and what it was answered. */
export interface TokenExchange {
  /** The form the broker sent. */
  params: URLSearchParams;
  authorization: string | undefined;
  /** Undefined until answered. */
  status?: number;
  /** The JSON answer as the broker gets it (set as soon as the provider answered, even while it is held); undefined when the proxy answered itself. */
  body?: Record<string, unknown>;
}

/**
 * A node:http proxy in front of a real provider. It forwards every request and records what passes
 * through, and can play the provider's troubles: `hold()` keeps each answer the provider gave until
 * `release()`, `mode` 'down' answers 503 itself, 'hang' takes the request and never answers (until
 * `answerHeld`). With `nonRotating` it shows the broker a provider that keeps one refresh token (as
 * Google does): the rotated tokens of the real provider stay with the proxy.
 */
export class TokenProxy {
  mode: 'up' | 'down' | 'hang' = 'up';
  nonRotating = false;
  readonly exchanges: TokenExchange[] = [];
  private readonly held = new Map<ServerResponse, TokenExchange>();
  private gate: { opened: Promise<void>; open: () => void } | undefined;
  /** With `nonRotating`: the refresh token the real provider will take next. */
  private realRefreshToken: string | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly target: string,
  ) {}

  static async start(target: string): Promise<TokenProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new TokenProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, target);
    server.on('request', (req, res) => void proxy.handle(req, res).catch(() => res.destroy()));
    return proxy;
  }

  /** The provider's token endpoint, as the broker is to know it. */
  get tokenUrl(): string {
    return `${this.url}/oauth/token`;
  }

  /** Refresh requests that reached the proxy, in order. */
  refreshes(): TokenExchange[] {
    return this.exchanges.filter((e) => e.params.get('grant_type') === 'refresh_token');
  }

  /** Requests taken in 'hang' mode and not answered yet. */
  get heldCount(): number {
    return this.held.size;
  }

  /** Answers every held request with `status`, as a provider that comes back failing. */
  answerHeld(status: number): void {
    for (const [res, exchange] of this.held) {
      exchange.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable"}');
    }
    this.held.clear();
  }

  /** From now on, answers wait (after the provider gave them) until `release`. */
  hold(): void {
    let open = () => {};
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.gate = { opened, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  async close(): Promise<void> {
    this.release();
    this.answerHeld(503);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const exchange: TokenExchange = { params: new URLSearchParams(body), authorization: req.headers.authorization };
    this.exchanges.push(exchange);
    if (this.mode === 'hang') {
      this.held.set(res, exchange);
      return;
    }
    if (this.mode === 'down') {
      exchange.status = 503;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('service unavailable');
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const isRefresh = exchange.params.get('grant_type') === 'refresh_token';
    const forwarded = new URLSearchParams(exchange.params);
    if (this.nonRotating && isRefresh && this.realRefreshToken) forwarded.set('refresh_token', this.realRefreshToken);
    const answer = await fetch(`${this.target}${req.url}`, { method: req.method, headers, ...(body && { body: forwarded.toString() }), redirect: 'manual' });
    let text = await answer.text();
    if (answer.headers.get('content-type')?.includes('json')) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (this.nonRotating && typeof parsed.refresh_token === 'string') {
        this.realRefreshToken = parsed.refresh_token;
        if (isRefresh) delete parsed.refresh_token;
        text = JSON.stringify(parsed);
      }
      exchange.body = parsed;
    }
    exchange.status = answer.status;
    await this.gate?.opened;
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(text);
  }
}

/**
 * Registers the provider Latchkey in the broker with its token endpoint behind `proxy` (authorize
 * and revoke go straight to it), connects alice through the browser flow and returns the connection.
 */
export async function connectThroughProxy(setup: BrokerSetup, proxy: TokenProxy): Promise<{ connectionId: string; browser: TwoSiteBrowser }> {
  const registered = await api(setup, '/api/v1/credentials/oauth/register', { method: 'POST', body: JSON.stringify(registrationBody(setup, PROVIDER, proxy.tokenUrl)) });
  expect(registered.status, await registered.clone().text()).toBe(201);
  const browser = new TwoSiteBrowser(setup);
  await browser.signInAtBroker();
  const done = await browser.connect();
  expect(done.status, await done.clone().text()).toBe(302);
  const [connection] = (await (await api(setup, `/api/v1/credentials/oauth/connections?user_id=${setup.brokerFixture.user.id}`)).json()) as { id: string }[];
  return { connectionId: connection!.id, browser };
}

export interface ProxiedBroker {
  readonly setup: BrokerSetup;
  readonly proxy: TokenProxy;
  readonly connectionId: string;
}

/**
 * For the calling suite: a broker and a provider whose token endpoint is behind a proxy, with alice
 * connected through it, started once before its tests and stopped after them.
 */
export function useProxiedBroker(kind: 'sqlite' | 'postgres', configure: (config: Config) => void): ProxiedBroker {
  let setup: BrokerSetup | undefined;
  let proxy: TokenProxy | undefined;
  let connectionId: string | undefined;
  beforeAll(async () => {
    setup = await startBrokerAndProvider(kind, { broker: { configure } });
    proxy = await TokenProxy.start(setup.provider.url);
    ({ connectionId } = await connectThroughProxy(setup, proxy));
  });
  afterAll(async () => {
    await proxy?.close();
    await stopAll(setup);
  });
  return {
    get setup() {
      return setup!;
    },
    get proxy() {
      return proxy!;
    },
    get connectionId() {
      return connectionId!;
    },
  };
}
