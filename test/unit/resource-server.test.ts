import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildExampleApi } from '../../examples/protected-api/server.js';
import {
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  ResourceServerError,
  TemporarilyUnavailableError,
  accessTokenOf,
  createResourceServer,
  requireToken,
  requireTokenMiddleware,
  withToken,
  type ResourceServerOptions,
  type TokenRequest,
} from '../../src/sdk/index.js';

/**
 * The SDK's own logic, against a tiny stand-in issuer: it publishes a JWKS the test controls and
 * answers introspection from a set of revoked jtis. The real server is exercised by the e2e tests.
 */

const AUDIENCE = 'https://api.example.com';
const CHALLENGE = `Bearer realm="${AUDIENCE}"`;

interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function testKey(alg: 'RS256' | 'ES256' | 'EdDSA'): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** The parts of an issuer the SDK talks to, with knobs for the failures under test. */
class StandInIssuer {
  published: JWK[] = [];
  readonly revokedJtis = new Set<string>();
  introspectionStatus = 200;
  introspectionHangs = false;
  jwksStatus = 200;
  readonly introspectionRequests: { authorization: string | undefined; body: URLSearchParams }[] = [];
  private readonly server = createServer((req, res) => void this.answer(req, res));

  async start(): Promise<string> {
    return listen(this.server);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      res.writeHead(this.jwksStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.published }));
      return;
    }
    if (req.method === 'POST' && req.url === '/oauth/introspect') {
      const body = new URLSearchParams(await readBody(req));
      this.introspectionRequests.push({ authorization: req.headers.authorization, body });
      if (this.introspectionHangs) return;
      if (this.introspectionStatus !== 200) {
        res.writeHead(this.introspectionStatus).end();
        return;
      }
      const { jti } = decodeJwt(body.get('token') ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ active: typeof jti === 'string' && !this.revokedJtis.has(jti) }));
      return;
    }
    res.writeHead(404).end();
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const issuer = new StandInIssuer();
let issuerUrl: string;
let rsaKey: TestKey;
let ecKey: TestKey;
let edKey: TestKey;
let unpublishedKey: TestKey;

beforeAll(async () => {
  issuerUrl = await issuer.start();
  [rsaKey, ecKey, edKey, unpublishedKey] = await Promise.all([testKey('RS256'), testKey('ES256'), testKey('EdDSA'), testKey('RS256')]);
  publishInitialKeys();
});

function publishInitialKeys(): void {
  issuer.published = [rsaKey.publicJwk, ecKey.publicJwk, edKey.publicJwk];
}

afterAll(() => issuer.stop());

afterEach(() => {
  publishInitialKeys();
  issuer.revokedJtis.clear();
  issuer.introspectionStatus = 200;
  issuer.introspectionHangs = false;
  issuer.jwksStatus = 200;
  issuer.introspectionRequests.length = 0;
  vi.useRealTimers();
});

interface TokenOptions {
  key?: TestKey;
  /** The signing key's kid is used unless this overrides it. */
  kid?: string;
  /** `null` leaves the header without a typ. */
  typ?: string | null;
  claims?: JWTPayload;
}

async function accessToken({ key = rsaKey, kid = key.kid, typ = 'at+jwt', claims = {} }: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: issuerUrl,
    sub: 'user-1',
    aud: AUDIENCE,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    client_id: 'client-1',
    scope: 'read:projects openid',
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid, ...(typ !== null && { typ }) })
    .sign(key.privateKey);
}

function resourceServer(overrides: Partial<ResourceServerOptions> = {}) {
  return createResourceServer({ issuer: issuerUrl, audience: AUDIENCE, ...overrides });
}

/** Awaits a refusal and checks the parts every refusal shares, including that the token never leaks. */
async function refusal<E extends ResourceServerError>(
  verification: Promise<unknown>,
  type: new (...args: never[]) => E,
  token?: string,
): Promise<E> {
  const err = await verification.then(
    () => expect.unreachable('the token was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  const refused = err as E;
  if (token !== undefined) {
    for (const text of [refused.message, refused.wwwAuthenticate, JSON.stringify(refused)]) expect(text).not.toContain(token);
  }
  return refused;
}

describe('createResourceServer().verify', () => {
  it.each([
    ['RS256', () => rsaKey],
    ['ES256', () => ecKey],
    ['EdDSA', () => edKey],
  ])('accepts a valid %s access token and splits its scopes', async (_alg, key) => {
    const claims = await resourceServer().verify(`Bearer ${await accessToken({ key: key() })}`, ['read:projects']);
    expect(claims).toMatchObject({ sub: 'user-1', client_id: 'client-1', aud: AUDIENCE, scopes: ['read:projects', 'openid'] });
  });

  it('accepts the long form of the typ and a lower-case scheme name', async () => {
    const token = await accessToken({ typ: 'application/at+jwt' });
    await expect(resourceServer().verify(`bearer ${token}`)).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('answers a request without a token with the bare challenge (RFC 6750 §3.1)', async () => {
    const err = await refusal(resourceServer().verify(undefined), MissingTokenError);
    expect(err.status).toBe(401);
    expect(err.wwwAuthenticate).toBe(CHALLENGE);
    expect(err.toJSON()).toEqual({ error_description: 'a bearer access token is required' });
  });

  it('treats credentials of another scheme as no token at all', async () => {
    const err = await refusal(resourceServer().verify('Basic dXNlcjpwYXNz'), MissingTokenError);
    expect(err.wwwAuthenticate).toBe(CHALLENGE);
  });

  it('refuses a Bearer header without a well-formed token', async () => {
    for (const header of ['Bearer', 'Bearer a b', 'Bearer "quoted"']) {
      const err = await refusal(resourceServer().verify(header), InvalidTokenError);
      expect(err.status).toBe(401);
    }
  });

  it('refuses a token whose signature does not verify', async () => {
    const token = await accessToken({ key: unpublishedKey, kid: rsaKey.kid });
    const err = await refusal(resourceServer().verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.wwwAuthenticate).toBe(
      `${CHALLENGE}, error="invalid_token", error_description="the access token signature does not verify"`,
    );
    expect(err.toJSON()).toEqual({ error: 'invalid_token', error_description: 'the access token signature does not verify' });
  });

  it('refuses a JWT that is not an access token', async () => {
    for (const typ of ['JWT', null]) {
      const token = await accessToken({ typ });
      const err = await refusal(resourceServer().verify(`Bearer ${token}`), InvalidTokenError, token);
      expect(err.description).toBe('the token is not an access token (typ must be at+jwt)');
    }
  });

  it('refuses an expired token, allowing the configured clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await accessToken({ claims: { iat: now - 600, exp: now - 60 } });
    const err = await refusal(resourceServer().verify(`Bearer ${expired}`), InvalidTokenError, expired);
    expect(err.description).toBe('the access token has expired');
    const justExpired = await accessToken({ claims: { iat: now - 600, exp: now - 2 } });
    await expect(resourceServer().verify(`Bearer ${justExpired}`)).resolves.toBeDefined();
  });

  it('refuses a token from another issuer', async () => {
    const token = await accessToken({ claims: { iss: `${issuerUrl}/other` } });
    const err = await refusal(resourceServer().verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.description).toBe('the access token was issued by another authorization server');
  });

  it('refuses a token meant for another API', async () => {
    const token = await accessToken({ claims: { aud: 'https://billing.example.com' } });
    const err = await refusal(resourceServer().verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.description).toBe('the access token was not issued for this API');
  });

  it('refuses a token lacking a claim RFC 9068 requires', async () => {
    const token = await accessToken({ claims: { client_id: undefined } });
    const err = await refusal(resourceServer().verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.description).toBe('the access token lacks the client_id claim');
  });

  it('refuses an algorithm the API does not accept', async () => {
    const token = await accessToken({ key: rsaKey });
    const err = await refusal(resourceServer({ algorithms: ['ES256'] }).verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.description).toBe('the access token is signed with an algorithm this API does not accept');
  });

  it('answers a token without a required scope with 403 naming the scopes', async () => {
    const token = await accessToken({ claims: { scope: 'read:projects' } });
    const err = await refusal(
      resourceServer({ realm: 'projects' }).verify(`Bearer ${token}`, ['read:projects', 'write:projects']),
      InsufficientScopeError,
      token,
    );
    expect(err.status).toBe(403);
    expect(err.requiredScopes).toEqual(['read:projects', 'write:projects']);
    expect(err.wwwAuthenticate).toBe(
      'Bearer realm="projects", error="insufficient_scope", error_description="the access token lacks the scope write:projects", scope="read:projects write:projects"',
    );
  });

  it('fails closed with 503 when the JWKS cannot be fetched', async () => {
    issuer.jwksStatus = 500;
    const err = await refusal(resourceServer().verify(`Bearer ${await accessToken()}`), TemporarilyUnavailableError);
    expect(err.status).toBe(503);
    expect(err.wwwAuthenticate).toBe(CHALLENGE);
    expect(err.toJSON().error).toBe('temporarily_unavailable');
  });

  it('verifies a token signed with a key published after a rotation, once the refetch cooldown has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const rs = resourceServer();
    await rs.verify(`Bearer ${await accessToken({ key: rsaKey })}`);

    const rotatedKey = await testKey('RS256');
    issuer.published = [rotatedKey.publicJwk, rsaKey.publicJwk];
    const rotated = await accessToken({ key: rotatedKey });
    // Right after a fetch, jose does not refetch for an unknown kid, so a forged kid cannot flood the issuer.
    await refusal(rs.verify(`Bearer ${rotated}`), InvalidTokenError, rotated);

    vi.setSystemTime(Date.now() + 6_000);
    const later = await accessToken({ key: rotatedKey });
    await expect(rs.verify(`Bearer ${later}`)).resolves.toMatchObject({ sub: 'user-1' });
  });
});

describe('introspection', () => {
  const introspection = { clientId: 'projects-api', clientSecret: 'secret' };

  it('accepts a token the issuer says is active, without introspecting refused tokens', async () => {
    const rs = resourceServer({ introspection });
    await expect(rs.verify(`Bearer ${await accessToken()}`)).resolves.toMatchObject({ sub: 'user-1' });
    await refusal(rs.verify(`Bearer ${await accessToken()}`, ['admin']), InsufficientScopeError);
    expect(issuer.introspectionRequests).toHaveLength(1);
    expect(issuer.introspectionRequests[0]?.body.get('token_type_hint')).toBe('access_token');
  });

  it('refuses a revoked token that still verifies offline', async () => {
    const token = await accessToken();
    issuer.revokedJtis.add(decodeJwt(token).jti ?? '');
    await expect(resourceServer().verify(`Bearer ${token}`)).resolves.toBeDefined();
    const err = await refusal(resourceServer({ introspection }).verify(`Bearer ${token}`), InvalidTokenError, token);
    expect(err.status).toBe(401);
    expect(err.description).toBe('the access token is no longer active');
  });

  it('form-urlencodes the client credentials before base64 (RFC 6749 §2.3.1)', async () => {
    const rs = resourceServer({ introspection: { clientId: 'projects:api', clientSecret: 'p@ss word+1' } });
    await rs.verify(`Bearer ${await accessToken()}`);
    const authorization = issuer.introspectionRequests[0]?.authorization ?? '';
    expect(authorization.startsWith('Basic ')).toBe(true);
    expect(Buffer.from(authorization.slice('Basic '.length), 'base64').toString()).toBe('projects%3Aapi:p%40ss+word%2B1');
  });

  it('fails closed with 503 when the endpoint answers an error', async () => {
    issuer.introspectionStatus = 500;
    const token = await accessToken();
    const err = await refusal(resourceServer({ introspection }).verify(`Bearer ${token}`), TemporarilyUnavailableError, token);
    expect(err.status).toBe(503);
    expect(err.toJSON()).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the token cannot be checked with the issuer right now',
    });
  });

  it('fails closed with 503 when the endpoint is unreachable', async () => {
    const closed = createServer();
    const closedUrl = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const rs = resourceServer({ introspection: { ...introspection, endpoint: `${closedUrl}/oauth/introspect` } });
    await refusal(rs.verify(`Bearer ${await accessToken()}`), TemporarilyUnavailableError);
  });

  it('fails closed with 503 when the endpoint does not answer in time', async () => {
    issuer.introspectionHangs = true;
    const rs = resourceServer({ introspection: { ...introspection, timeoutMs: 200 } });
    await refusal(rs.verify(`Bearer ${await accessToken()}`), TemporarilyUnavailableError);
  });
});

/** Checks the three answers every adapter must give for the route `GET /projects` needing read:projects. */
async function expectAdapterAnswers(send: (authorization: string | undefined) => Promise<AdapterAnswer>): Promise<void> {
  const missing = await send(undefined);
  expect(missing.status).toBe(401);
  expect(missing.headers['www-authenticate']).toBe(CHALLENGE);
  expect(missing.headers['cache-control']).toBe('no-store');
  expect(JSON.parse(missing.body)).toEqual({ error_description: 'a bearer access token is required' });

  const invalid = await send('Bearer not.a.jwt');
  expect(invalid.status).toBe(401);
  expect(invalid.headers['www-authenticate']).toContain('error="invalid_token"');
  expect(JSON.parse(invalid.body)).toMatchObject({ error: 'invalid_token' });

  const unscoped = await send(`Bearer ${await accessToken({ claims: { scope: 'openid' } })}`);
  expect(unscoped.status).toBe(403);
  expect(unscoped.headers['www-authenticate']).toContain('error="insufficient_scope"');
  expect(unscoped.headers['www-authenticate']).toContain('scope="read:projects"');
  expect(unscoped.headers['cache-control']).toBe('no-store');
  expect(JSON.parse(unscoped.body)).toMatchObject({ error: 'insufficient_scope' });

  const allowed = await send(`Bearer ${await accessToken()}`);
  expect(allowed.status).toBe(200);
  expect(JSON.parse(allowed.body)).toEqual({ sub: 'user-1' });
}

interface AdapterAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function fetchAnswer(url: string, authorization: string | undefined): Promise<AdapterAnswer> {
  const response = await fetch(url, { headers: authorization === undefined ? {} : { authorization } });
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

async function withServer(server: Server, use: (baseUrl: string) => Promise<void>): Promise<void> {
  const baseUrl = await listen(server);
  try {
    await use(baseUrl);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('adapters', () => {
  it('fastify: requireToken refuses or hands the claims to the route', async () => {
    const app = Fastify();
    app.get('/projects', { preHandler: requireToken(resourceServer(), ['read:projects']) }, async (request) => ({
      sub: accessTokenOf(request).sub,
    }));
    await expectAdapterAnswers(async (authorization) => {
      const response = await app.inject({ url: '/projects', headers: authorization === undefined ? {} : { authorization } });
      return { status: response.statusCode, headers: response.headers as AdapterAnswer['headers'], body: response.body };
    });
    await app.close();
  });

  it('express-style: requireTokenMiddleware refuses or puts the claims on req.auth', async () => {
    const middleware = requireTokenMiddleware(resourceServer(), ['read:projects']);
    const server = createServer((req, res) => {
      const tokenRequest: TokenRequest = req;
      middleware(tokenRequest, res, (err) => {
        if (err !== undefined) {
          res.statusCode = 500;
          res.end();
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sub: tokenRequest.auth?.sub }));
      });
    });
    await withServer(server, (baseUrl) => expectAdapterAnswers((authorization) => fetchAnswer(`${baseUrl}/projects`, authorization)));
  });

  it('node:http: withToken refuses or calls the handler with the claims', async () => {
    const server = createServer(
      withToken(resourceServer(), ['read:projects'], (_req, res, claims) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ sub: claims.sub }));
      }),
    );
    await withServer(server, (baseUrl) => expectAdapterAnswers((authorization) => fetchAnswer(`${baseUrl}/projects`, authorization)));
  });
});

describe('examples/protected-api', () => {
  it('lists projects with read:projects and creates them only with write:projects', async () => {
    const app = buildExampleApi({ issuer: issuerUrl, audience: AUDIENCE });
    const reader = await accessToken({ claims: { scope: 'read:projects' } });
    const writer = await accessToken({ claims: { scope: 'read:projects write:projects', sub: 'user-2' } });

    const refused = await app.inject({ method: 'POST', url: '/v1/projects', headers: { authorization: `Bearer ${reader}` }, payload: { name: 'Apollo' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['www-authenticate']).toContain('scope="write:projects"');

    const created = await app.inject({ method: 'POST', url: '/v1/projects', headers: { authorization: `Bearer ${writer}` }, payload: { name: 'Apollo' } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'Apollo', createdBy: 'user-2' });

    const listed = await app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${reader}` } });
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toMatchObject({ projects: [{ name: 'Apollo' }] });
    await app.close();
  });
});
