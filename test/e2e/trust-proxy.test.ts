import { afterEach, describe, expect, it } from 'vitest';
import { SIGN_IN_LIMITS } from '../../src/server/sign-in.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { seed, startTestServer, type TestServer } from '../helpers/server.js';

/** Fails a sign-in as if from `forwardedFor`, as a proxy in front of Latchkey would report it. */
async function failSignIn(server: TestServer, username: string, forwardedFor: string): Promise<number> {
  const agent = new BrowserAgent(server.url);
  const page = await (await agent.get('/login')).text();
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)![1]!;
  const response = await fetch(`${server.url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: agent.cookieHeader(), 'x-forwarded-for': forwardedFor },
    body: new URLSearchParams({ csrf_token: csrf, return_to: '/', username, password: 'definitely wrong' }).toString(),
  });
  return response.status;
}

/**
 * Behind a load balancer every request comes from the balancer's address; only with --trust-proxy
 * does the per-address sign-in throttle see the real client, so one abuser cannot lock out everyone.
 */
describe('the per-address sign-in throttle behind a proxy', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function exhaustAddress(from: string): Promise<void> {
    // Different usernames, so that only the address limit is reached.
    for (let i = 0; i < SIGN_IN_LIMITS.perAddress; i++) expect(await failSignIn(server!, `nobody${i}`, from)).toBe(401);
  }

  it('tells clients apart by X-Forwarded-For when the proxy is trusted', async () => {
    server = await startTestServer('sqlite', { logLevel: 'warn', trustProxy: '127.0.0.1' });
    await seed(server);
    await exhaustAddress('203.0.113.5');
    expect(await failSignIn(server, 'someone', '203.0.113.5')).toBe(429);
    expect(await failSignIn(server, 'someone', '203.0.113.6')).toBe(401);
  });

  it('ignores X-Forwarded-For by default, so a client cannot pick its own address', async () => {
    server = await startTestServer('sqlite', { logLevel: 'warn' });
    await seed(server);
    await exhaustAddress('203.0.113.5');
    expect(await failSignIn(server, 'someone', '203.0.113.6')).toBe(429);
  });
});
