import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, registerProvider, startBrokerAndProvider, stopAll, TwoSiteBrowser, type BrokerSetup } from '../helpers/broker.js';

describe('broker smoke', () => {
  let setup: BrokerSetup;
  beforeAll(async () => {
    setup = await startBrokerAndProvider('sqlite', { accessTokenTtlSeconds: 4 });
  });
  afterAll(async () => stopAll(setup));

  it('connects and hands out credentials', async () => {
    const reg = await registerProvider(setup);
    if (reg.status !== 201) console.log(setup.broker.logs().split('\n').filter((l) => l.includes('unhandled')).join('\n'));
    expect(reg.status, await reg.clone().text()).toBe(201);
    const browser = new TwoSiteBrowser(setup);
    await browser.signInAtBroker();
    const done = await browser.connect();
    expect(done.status, await done.clone().text()).toBe(302);
    expect(done.headers.get('location')).toBe('/done');
    const list = await (await api(setup, '/api/v1/credentials/oauth/connections')).json();
    expect(list).toHaveLength(1);
    const creds = await api(setup, `/api/v1/credentials/oauth/connections/acme/token?user_id=${setup.brokerFixture.user.id}`);
    const body = await creds.json();
    expect(creds.status, JSON.stringify(body)).toBe(200);
    expect(body.access_token).toMatch(/^eyJ/);
    await new Promise((r) => setTimeout(r, 2500));
    const again = await (await api(setup, `/api/v1/credentials/oauth/connections/acme/token?user_id=${setup.brokerFixture.user.id}`)).json();
    expect(again.access_token).not.toBe(body.access_token);
  });
});
