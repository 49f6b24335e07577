import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { BrowserAgent } from './browser-agent.js';
import { seed, startTestServer, type Fixture, type TestServer, type TestServerOptions } from './server.js';

/** The provider's name in the broker for a second Latchkey. */
export const PROVIDER = 'acme';

export interface BrokerSetup {
  /** The Latchkey under test, acting as the connection broker. */
  broker: TestServer;
  brokerFixture: Fixture;
  /** A second, real Latchkey acting as the third-party provider (issuer on 127.0.0.1, so cookies do not mix). */
  provider: TestServer;
  providerFixture: Fixture;
  /** The broker's OAuth client at the provider. */
  client: { client_id: string; client_secret: string };
}

/**
 * A broker and a provider, both real Latchkeys on fresh databases. The provider issues short-lived
 * access tokens (`accessTokenTtlSeconds`), so refreshes really happen; the broker's client at the
 * provider is registered for the broker's callback of provider `name`.
 */
export async function startBrokerAndProvider(
  kind: 'sqlite' | 'postgres',
  options: { accessTokenTtlSeconds?: number; broker?: TestServerOptions; name?: string } = {},
): Promise<BrokerSetup> {
  const name = options.name ?? PROVIDER;
  const provider = await startTestServer('sqlite', {
    issuerHost: '127.0.0.1',
    configure: (c) => {
      c.accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 3600;
    },
  });
  const broker = await startTestServer(kind, options.broker);
  const providerFixture = await seed(provider);
  const brokerFixture = await seed(broker);
  const created = await createClient(provider.ctx, {
    name: 'Broker',
    redirectUris: [`${broker.url}/api/v1/credentials/auth/callback/${name}`],
    grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
    scopes: ['read:projects', 'write:projects'],
    isPublic: false,
  });
  return { broker, brokerFixture, provider, providerFixture, client: { client_id: created.client_id, client_secret: created.client_secret! } };
}

export async function stopAll(setup: BrokerSetup | undefined): Promise<void> {
  await setup?.broker.stop();
  await setup?.provider.stop();
}

/** The register body for the provider Latchkey by its URLs, with the broker's client there; `tokenUrl` may put a proxy in front. */
export function registrationBody(setup: BrokerSetup, name = PROVIDER, tokenUrl = `${setup.provider.url}/oauth/token`) {
  return {
    provider_name: name,
    client_id: setup.client.client_id,
    client_secret: setup.client.client_secret,
    token_data: {
      authorize_url: `${setup.provider.url}/oauth/authorize`,
      token_url: tokenUrl,
      revoke_url: `${setup.provider.url}/oauth/revoke`,
      scopes: ['read:projects'],
    },
  };
}

/** Registers the provider Latchkey in the broker through the REST API. */
export async function registerProvider(setup: BrokerSetup, extra: Record<string, unknown> = {}, name = PROVIDER): Promise<Response> {
  return fetch(`${setup.broker.url}/api/v1/credentials/oauth/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${setup.brokerFixture.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...registrationBody(setup, name), ...extra }),
  });
}

type ClientCredentials = { client_id: string; client_secret: string };

/** Posts a form to the provider's endpoint as `client` (Basic, each part form-encoded first). */
export async function postToProvider(setup: BrokerSetup, path: string, client: ClientCredentials, form: Record<string, string>): Promise<Response> {
  const basic = Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64');
  return fetch(`${setup.provider.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}

/** The provider's verdict on an access token, asked by its own confidential fixture client. */
export async function introspectAtProvider(setup: BrokerSetup, token: string, as: ClientCredentials = setup.providerFixture.confidential): Promise<Record<string, unknown>> {
  const response = await postToProvider(setup, '/oauth/introspect', as, { token });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/**
 * One person's browser across both servers: an agent per origin, as a browser keeps cookies per host.
 * `connect` signs in at the broker, starts the flow, signs in and consents at the provider, and
 * follows the callback; it returns the broker's final redirect.
 */
export class TwoSiteBrowser {
  readonly atBroker: BrowserAgent;
  readonly atProvider: BrowserAgent;

  constructor(readonly setup: BrokerSetup) {
    this.atBroker = new BrowserAgent(setup.broker.url);
    this.atProvider = new BrowserAgent(setup.provider.url);
  }

  async signInAtBroker(): Promise<void> {
    const { username, password } = this.setup.brokerFixture.user;
    const page = await (await this.atBroker.get('/login')).text();
    const response = await this.atBroker.submitForm(page, '/login', { username, password });
    expect(response.status).toBe(303);
  }

  /** Starts a flow at the broker and returns where it sends the browser (the provider's authorize URL). */
  async start(path: string): Promise<URL> {
    const response = await this.atBroker.get(path);
    expect(response.status, await response.clone().text()).toBe(302);
    return new URL(response.headers.get('location')!, this.setup.broker.url);
  }

  /** Answers the provider's login and consent; returns the redirect back to the broker's callback. */
  async consent(authorizeUrl: URL, decision: 'approve' | 'deny' = 'approve'): Promise<URL> {
    return this.atProvider.authorize(authorizeUrl, this.setup.providerFixture.user, decision);
  }

  /** Delivers the provider's redirect to the broker, with this browser's cookies. */
  async callback(callbackUrl: URL): Promise<Response> {
    return this.atBroker.get(callbackUrl.pathname + callbackUrl.search);
  }

  async connect(path = `/api/v1/credentials/auth/${PROVIDER}?return_to=/done`): Promise<Response> {
    return this.callback(await this.consent(await this.start(path)));
  }
}

export function api(setup: BrokerSetup, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${setup.broker.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${setup.brokerFixture.apiKey}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });
}

/** Someone who signs in at the provider. */
export interface ProviderUser {
  username: string;
  password: string;
}

/** A loopback port nothing listens on, for a provider that cannot be reached. */
export async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A customer's fresh browser (no broker account) opening a portal link and consenting at the
 * provider as `user`; returns its agent at the provider, still signed in there.
 */
export async function authorizeThroughLink(setup: BrokerSetup, link: string, user: ProviderUser): Promise<BrowserAgent> {
  const atBroker = new BrowserAgent(setup.broker.url);
  const atProvider = new BrowserAgent(setup.provider.url);
  const started = await atBroker.get(new URL(link).pathname);
  expect(started.status, await started.clone().text()).toBe(302);
  const callback = await atProvider.authorize(new URL(started.headers.get('location')!), user);
  const landed = await atBroker.get(callback.pathname + callback.search);
  expect(landed.status).toBe(200);
  expect(await landed.text()).toContain('Account connected');
  return atProvider;
}
