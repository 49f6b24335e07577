import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through on 127.0.0.1 in front of a server (e.g. PostgreSQL), to play its outages without
 * touching the server itself: `cut()` drops every connection passing through and stops listening, so
 * new connections are refused (ECONNREFUSED) until `restore()` listens again on the same port;
 * `freeze()` holds every connection silent (a partition) until `thaw()`.
 * `dropWith` picks how connections are dropped: 'reset' (RST both ways: ECONNRESET at the client) or
 * 'close' (a plain close: the client sees its connection end).
 */
export class TcpProxy {
  private server: Server;
  private readonly pairs = new Set<[Socket, Socket]>();
  /** Connections accepted, and connections dropped by `cut()`, over the proxy's life. */
  accepted = 0;
  reset = 0;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
    server: Server,
    readonly dropWith: 'reset' | 'close',
  ) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }, dropWith: 'reset' | 'close' = 'reset'): Promise<TcpProxy> {
    const server = createServer();
    await listenOn(server, 0);
    const proxy = new TcpProxy((server.address() as AddressInfo).port, target, server, dropWith);
    proxy.attach(server);
    return proxy;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Open connections through the proxy. */
  get open(): number {
    return this.pairs.size;
  }

  private attach(server: Server): void {
    server.on('connection', (inbound: Socket) => {
      this.accepted++;
      const outbound = connect(this.target.port, this.target.host);
      const pair: [Socket, Socket] = [inbound, outbound];
      this.pairs.add(pair);
      const close = () => {
        this.pairs.delete(pair);
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', close).on('close', close);
      outbound.on('error', close).on('close', close);
      if (!this.frozen) forward(pair);
    });
  }

  private frozen = false;

  /**
   * The server behind stops answering without dropping anything, as in a network partition: every
   * connection, open or new, is held open and nothing passes either way until `thaw()`.
   */
  freeze(): void {
    this.frozen = true;
    for (const [inbound, outbound] of this.pairs) {
      inbound.unpipe(outbound);
      outbound.unpipe(inbound);
      inbound.pause();
      outbound.pause();
    }
  }

  /** Lets everything held by `freeze()` through, and forwards again. */
  thaw(): void {
    this.frozen = false;
    for (const pair of this.pairs) forward(pair);
  }

  /** Drops every connection through the proxy and refuses new ones. */
  async cut(): Promise<void> {
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const pair of [...this.pairs]) {
      this.reset++;
      this.pairs.delete(pair);
      for (const socket of pair) {
        if (this.dropWith === 'reset') socket.resetAndDestroy();
        else socket.destroy();
      }
    }
    await closed;
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    const server = createServer();
    for (let attempt = 0; ; attempt++) {
      try {
        await listenOn(server, this.port);
        break;
      } catch (err) {
        if (attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.server = server;
    this.attach(server);
  }

  async close(): Promise<void> {
    for (const pair of [...this.pairs]) for (const socket of pair) socket.destroy();
    this.pairs.clear();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A pass-through to `host:port` whose `cut()` closes every connection and stops listening. */
export function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  return TcpProxy.start({ host, port }, 'close');
}

function forward([inbound, outbound]: [Socket, Socket]): void {
  inbound.pipe(outbound);
  outbound.pipe(inbound);
}

function listenOn(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** `url` (postgres://…) with its host and port replaced by the proxy's. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.href;
}

/** The host and port a postgres:// URL names. */
export function targetOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}
