import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { basic, postForm, seedDatabase, sleep, startLatchkey, stopAllLatchkeys, type LatchkeyProcess, type ProcessFixture } from '../helpers/process-server.js';

/**
 * Slow and stalled clients against a real `latchkey serve` process: LATCHKEY_REQUEST_TIMEOUT bounds a
 * request that never finishes, and LATCHKEY_SHUTDOWN_TIMEOUT bounds how long SIGTERM waits for one.
 */

interface RawExchange {
  socket: Socket;
  /** Everything the server sent, how long after opening the connection it was closed, and when (performance.now()). */
  closed: Promise<{ text: string; afterMs: number; at: number }>;
}

/** Opens a connection to 127.0.0.1:`port` and writes `first`; the rest is up to the test. */
function rawRequest(port: number, first: string): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const opened = performance.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const closed = new Promise<{ text: string; afterMs: number; at: number }>((done) => {
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        const at = performance.now();
        done({ text, afterMs: at - opened, at });
      });
    });
    socket.once('connect', () => {
      if (first) socket.write(first);
      resolve({ socket, closed });
    });
    socket.once('error', reject);
  });
}

/** The status and JSON body of a raw HTTP/1.1 answer. */
function parseAnswer(text: string): { status: number; headers: string; body: Record<string, unknown> | undefined } {
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? NaN);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status, headers: head, body: json };
}

const stalledTokenRequest = (contentLength: number, bodyStart: string) =>
  `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${contentLength}\r\n\r\n${bodyStart}`;

/** The outcome of a stalled request, as the server should end it: 408 with OAuth JSON, or a bare close. */
function expectTimedOut(text: string): void {
  if (text === '') return;
  const answer = parseAnswer(text);
  expect(answer.status, text).toBe(408);
  expect(answer.headers).toMatch(/content-type: application\/json/i);
  expect(answer.body).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) });
}

describe('faults: stalled clients and bounded shutdown (a real serve process)', () => {
  let db: TestDatabase;
  let fixture: ProcessFixture;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    fixture = await seedDatabase(db.url);
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await stopAllLatchkeys();
  });
  afterAll(async () => {
    await stopAllLatchkeys();
    await db?.drop();
  });

  const env = (over: Record<string, string>) => ({ LATCHKEY_MASTER_KEY: fixture.masterKey, LATCHKEY_LOG_LEVEL: 'info', ...over });
  const track = (exchange: RawExchange) => (sockets.push(exchange.socket), exchange);
  const clientCredentials = (server: LatchkeyProcess) => postForm(server.base, '/oauth/token', { grant_type: 'client_credentials', scope: 'read:projects' }, basic(fixture.machine));

  it('ends a stalled body, stalled headers and an idle connection within LATCHKEY_REQUEST_TIMEOUT=2, serving others meanwhile', async () => {
    const server = await startLatchkey(db.url, env({ LATCHKEY_REQUEST_TIMEOUT: '2' }));
    // Content-Length 100, three bytes sent, then nothing.
    const body = track(await rawRequest(server.port, stalledTokenRequest(100, 'gra')));
    // Headers never finished.
    const headers = track(await rawRequest(server.port, 'POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-'));
    // Connected, nothing sent.
    const idle = track(await rawRequest(server.port, ''));

    // Meanwhile the server answers everyone else promptly.
    const served: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const health = await fetch(`${server.base}/healthz`);
      expect(health.status).toBe(200);
      const token = await clientCredentials(server);
      expect(token.status, JSON.stringify(token.body)).toBe(200);
      expect(token.body.access_token).toEqual(expect.any(String));
      served.push(performance.now() - started);
      await sleep(200);
    }
    expect(Math.max(...served)).toBeLessThan(1_000);

    const [bodyEnd, headersEnd, idleEnd] = await Promise.all([body.closed, headers.closed, idle.closed]);
    console.info(
      `stalled body closed after ${Math.round(bodyEnd.afterMs)} ms (${bodyEnd.text ? parseAnswer(bodyEnd.text).status : 'no answer'}), ` +
        `stalled headers after ${Math.round(headersEnd.afterMs)} ms (${headersEnd.text ? parseAnswer(headersEnd.text).status : 'no answer'}), ` +
        `idle connection after ${Math.round(idleEnd.afterMs)} ms; others served in at most ${Math.round(Math.max(...served))} ms meanwhile`,
    );
    // 2 s, plus Node's once-a-second check, plus margin; and not cut off right away either.
    for (const end of [bodyEnd, headersEnd, idleEnd]) expect(end.afterMs).toBeLessThan(4_500);
    expect(bodyEnd.afterMs).toBeGreaterThan(1_500);
    expectTimedOut(bodyEnd.text);
    expectTimedOut(headersEnd.text);
    expectTimedOut(idleEnd.text);
    expect(server.alive()).toBe(true);
    expect((await clientCredentials(server)).status).toBe(200);
  }, 30_000);

  it('tells a client whose body stalled why: 408 with OAuth JSON, as documented, not a bare close', async () => {
    const server = await startLatchkey(db.url, env({ LATCHKEY_REQUEST_TIMEOUT: '2' }));
    const body = track(await rawRequest(server.port, stalledTokenRequest(100, 'gra')));
    const end = await body.closed;
    expect(end.afterMs).toBeLessThan(4_500);
    const answer = parseAnswer(end.text);
    expect(answer.status, `closed after ${Math.round(end.afterMs)} ms with ${JSON.stringify(end.text)}`).toBe(408);
    expect(answer.body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
  }, 30_000);

  it('exits 0 within LATCHKEY_SHUTDOWN_TIMEOUT=2 of SIGTERM despite a stalled client, finishing a request in flight', async () => {
    const server = await startLatchkey(db.url, env({ LATCHKEY_REQUEST_TIMEOUT: '60', LATCHKEY_SHUTDOWN_TIMEOUT: '2' }));
    const stalled = track(await rawRequest(server.port, stalledTokenRequest(100, 'gra')));
    // A normal request whose body is still arriving when the signal comes.
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read:projects' }).toString();
    const half = Math.floor(form.length / 2);
    const inFlight = track(
      await rawRequest(
        server.port,
        `POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basic(fixture.machine)}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
          `Content-Length: ${form.length}\r\nConnection: close\r\n\r\n${form.slice(0, half)}`,
      ),
    );
    await sleep(300);

    const signalled = performance.now();
    server.child.kill('SIGTERM');
    await sleep(300);
    inFlight.socket.write(form.slice(half));
    // Stopped listening: a new client is refused (or told 503), never served.
    const late = await fetch(`${server.base}/healthz`).then(
      (r) => r.status,
      () => 'refused' as const,
    );

    const [exit, inFlightEnd, stalledEnd] = await Promise.all([server.exited, inFlight.closed, stalled.closed]);
    const exitAfter = exit.at - signalled;
    console.info(
      `SIGTERM → exit ${exit.code ?? exit.signal} after ${Math.round(exitAfter)} ms; request in flight answered ${parseAnswer(inFlightEnd.text).status}; ` +
        `stalled client closed ${Math.round(stalledEnd.at - signalled)} ms after SIGTERM; new request after SIGTERM: ${late}`,
    );
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exitAfter).toBeLessThan(2_000 + 2_000);
    const answer = parseAnswer(inFlightEnd.text);
    expect(answer.status, inFlightEnd.text).toBe(200);
    expect(answer.body?.access_token).toEqual(expect.any(String));
    // The stalled client was not answered as if served.
    expect(parseAnswer(stalledEnd.text).status).not.toBe(200);
    expect(late === 'refused' || late === 503, `a request after SIGTERM got ${late}`).toBe(true);
  }, 30_000);
});
