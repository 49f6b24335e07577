import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Latchkey } from '../../src/sdk/index.js';
import { PROVIDER, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';

/**
 * The README's broker walkthrough in one piece: a second Latchkey as the provider, a user connecting
 * through the browser, and fresh credentials through the SDK, refreshed once the token nears expiry.
 */
describe('broker walkthrough: a second Latchkey as the provider', () => {
  let setup: BrokerSetup;
  beforeAll(async () => {
    setup = await startBrokerAndProvider('sqlite', { accessTokenTtlSeconds: 4 });
  });
  afterAll(async () => stopAll(setup));

  it('connects a user and hands out a token that is refreshed before it expires', async () => {
    expect((await registerProvider(setup)).status).toBe(201);
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
    const landed = await browser.connect();
    expect(landed.status).toBe(302);
    expect(landed.headers.get('location')).toBe('/done');

    const latchkey = new Latchkey({ url: setup.broker.url, apiKey: setup.brokerFixture.apiKey });
    const userId = setup.brokerFixture.user.id;
    const first = await latchkey.credentials(PROVIDER, { userId });
    expect(first.access_token).toMatch(/^eyJ/);
    expect(first.scopes).toEqual(['read:projects']);

    // A 4-second token enters its margin (half its lifetime) after 2 s.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const second = await latchkey.credentials(PROVIDER, { userId });
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.connection_id).toBe(first.connection_id);
  });
});
