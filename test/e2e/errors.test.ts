import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/admin/clients.js';
import { createUser } from '../../src/admin/users.js';
import { BrowserAgent } from '../helpers/browser-agent.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { API, REDIRECT_URI, seed, startTestServer, type Fixture, type TestServer } from '../helpers/server.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const BILLING_API = 'https://billing.example.com';

type Fields = Record<string, string> | Array<[string, string]>;
type Credentials = { client_id: string; client_secret: string };

/** A response read in full, with the secrets (client secret, code, token, verifier) the request carried. */
interface Exchange {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
  sent: string[];
}

const SECRET_FIELDS = new Set(['client_secret', 'code', 'code_verifier', 'refresh_token', 'token']);

/** RFC 6749 §2.3.1: id and secret are form-encoded before being joined and base64-encoded. */
const basic = (c: Credentials) => `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret)}`).toString('base64')}`;

interface PostOptions {
  auth?: Credentials;
  /** A raw Authorization header, instead of `auth`. */
  authorization?: string;
  /** The Content-Type header; null sends none. */
  contentType?: string | null;
  /** A raw body, instead of the form-encoded `fields`. */
  body?: string;
}

/** POSTs a form (or a raw body) to an OAuth endpoint, optionally with client_secret_basic. */
async function post(url: string, fields: Fields, options: PostOptions = {}): Promise<Exchange> {
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  const headers: Record<string, string> = {};
  if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/x-www-form-urlencoded';
  const sent = pairs.filter(([name]) => SECRET_FIELDS.has(name)).map(([, value]) => value);
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  if (options.auth) {
    headers.authorization = basic(options.auth);
    sent.push(options.auth.client_secret);
  }
  // A byte body, so that fetch adds no Content-Type of its own.
  const body = new TextEncoder().encode(options.body ?? new URLSearchParams(pairs).toString());
  const response = await fetch(url, { method: 'POST', redirect: 'manual', headers, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: the assertions on `json` will say what was wrong
  }
  return { status: response.status, headers: response.headers, text, json, sent };
}

/** An RFC 6749 §5.2 error: exact status and code, no-store, exactly two string keys, nothing echoed back. */
function expectOAuthError(ex: Exchange, status: number, error: string): void {
  expect({ status: ex.status, error: ex.json.error }, ex.text).toEqual({ status, error });
  expect(ex.headers.get('content-type')).toMatch(/^application\/json/);
  expect(ex.headers.get('cache-control')).toBe('no-store');
  expect(Object.keys(ex.json).sort()).toEqual(['error', 'error_description']);
  expect(typeof ex.json.error_description).toBe('string');
  for (const secret of ex.sent) expect(ex.text).not.toContain(secret);
}

/** An error page of the authorization endpoint or the login pages: HTML, never a redirect. */
function expectErrorPage(response: Response, status = 400): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('location')).toBeNull();
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
}

/** An authorization error sent back to the client (RFC 6749 §4.1.2.1) with `state` and `iss` (RFC 9207). */
function expectRedirectError(response: Response, error: string, state: string, issuer: string): URL {
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location') ?? 'about:blank');
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  expect(location.searchParams.get('error')).toBe(error);
  expect(typeof location.searchParams.get('error_description')).toBe('string');
  expect(location.searchParams.get('state')).toBe(state);
  expect(location.searchParams.get('iss')).toBe(issuer);
  expect(location.searchParams.has('code')).toBe(false);
  return location;
}

const without = (fields: Record<string, string>, name: string) => Object.fromEntries(Object.entries(fields).filter(([key]) => key !== name));

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

// ---------------------------------------------------------------------------------------------

describe.each(DATABASE_KINDS)('error responses on %s', (kind) => {
  let server: TestServer;
  let f: Fixture;
  /** Added to the server's clock, so that code expiry can be reached without waiting. */
  let clockSkewMs = 0;
  let agent: BrowserAgent;
  let confidential: Credentials;
  let other: Credentials;
  let machine: Credentials;
  let postOnly: Credentials;
  let basicOnly: Credentials;
  let publicId: string;

  const url = (path: string) => `${server.url}${path}`;
  const token = (fields: Fields, options?: PostOptions) => post(url('/oauth/token'), fields, options);
  const revoke = (fields: Fields, auth?: Credentials) => post(url('/oauth/revoke'), fields, auth && { auth });
  const introspect = async (value: string): Promise<Record<string, unknown>> => {
    const ex = await post(url('/oauth/introspect'), { token: value }, { auth: machine });
    expect(ex.status).toBe(200);
    return ex.json;
  };

  /** The authorization endpoint with these query parameters, repeats kept. */
  const authorizeUrl = (params: Fields): string => `${url('/oauth/authorize')}?${new URLSearchParams(params).toString()}`;

  /** Runs login and consent through the browser agent and returns the code sent to the client. */
  async function obtainCode(clientId: string, extra: Record<string, string> = {}): Promise<string> {
    const target = new URL(authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, state: 's', ...extra }));
    const back = await agent.authorize(target, f.user);
    const code = back.searchParams.get('code');
    expect(code, back.href).toBeTruthy();
    return code!;
  }

  /** A code of the confidential client exchanged for tokens. */
  async function confidentialTokens(scope?: string): Promise<{ access_token: string; refresh_token: string; scope: string }> {
    const code = await obtainCode(confidential.client_id, scope === undefined ? {} : { scope });
    const ex = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, { auth: confidential });
    expect(ex.status, ex.text).toBe(200);
    return ex.json as { access_token: string; refresh_token: string; scope: string };
  }

  const refresh = (refreshToken: string, auth: Credentials = confidential, extra: Record<string, string> = {}) =>
    token({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, { auth });

  beforeAll(async () => {
    server = await startTestServer(kind, { now: () => Date.now() + clockSkewMs, logLevel: 'warn' });
    f = await seed(server);
    confidential = f.confidential;
    machine = f.machine;
    publicId = f.publicClient.client_id;
    const secretOf = (c: { client_id: string; client_secret?: string }): Credentials => ({ client_id: c.client_id, client_secret: c.client_secret! });
    other = secretOf(
      await createClient(server.ctx, {
        name: 'Other Web App',
        redirectUris: [REDIRECT_URI],
        grantTypes: ['authorization_code', 'refresh_token'],
        scopes: ['read:projects', 'write:projects'],
        isPublic: false,
      }),
    );
    const machineWith = async (authMethod: string) =>
      secretOf(await createClient(server.ctx, { name: authMethod, redirectUris: [], grantTypes: ['client_credentials'], scopes: ['read:projects'], isPublic: false, authMethod }));
    postOnly = await machineWith('client_secret_post');
    basicOnly = await machineWith('client_secret_basic');
    agent = new BrowserAgent(server.url);
  });

  afterAll(async () => {
    await server?.stop();
  });

  // -------------------------------------------------------------------------------------------
  describe('authorization endpoint', () => {
    const state = 'st 1&x=/?';
    const valid = (): Record<string, string> => ({ response_type: 'code', client_id: confidential.client_id, redirect_uri: REDIRECT_URI, state });
    const get = (query: Fields) => fetch(authorizeUrl(query), { redirect: 'manual' });

    it('answers an unknown client_id with an error page and no redirect', async () => {
      expectErrorPage(await get({ ...valid(), client_id: 'no-such-client' }));
    });

    it('answers a missing client_id with an error page', async () => {
      expectErrorPage(await get(without(valid(), 'client_id')));
    });

    it.each([
      ['a path suffix', `${REDIRECT_URI}/x`],
      ['an extra query', `${REDIRECT_URI}?extra=1`],
      ['a trailing slash', `${REDIRECT_URI}/`],
      ['a prefix of it', REDIRECT_URI.slice(0, -1)],
      ['different case', REDIRECT_URI.replace('callback', 'Callback')],
      ['another host', 'https://evil.example/callback'],
    ])('answers a redirect_uri that is %s of the registered one with an error page', async (_name, redirectUri) => {
      expectErrorPage(await get({ ...valid(), redirect_uri: redirectUri }));
    });

    it('answers a duplicated client_id with an error page', async () => {
      expectErrorPage(await get([...Object.entries(valid()), ['client_id', confidential.client_id]]));
    });

    it('answers a duplicated redirect_uri with an error page', async () => {
      expectErrorPage(await get([...Object.entries(valid()), ['redirect_uri', REDIRECT_URI]]));
    });

    it('redirects a missing response_type back as invalid_request with state and iss', async () => {
      expectRedirectError(await get(without(valid(), 'response_type')), 'invalid_request', state, server.url);
    });

    it('redirects response_type=token back as unsupported_response_type', async () => {
      expectRedirectError(await get({ ...valid(), response_type: 'token' }), 'unsupported_response_type', state, server.url);
    });

    it('redirects a public client without code_challenge back as invalid_request', async () => {
      expectRedirectError(await get({ ...valid(), client_id: publicId }), 'invalid_request', state, server.url);
    });

    it('redirects code_challenge_method=plain back as invalid_request', async () => {
      const { verifier } = pkce();
      const query = { ...valid(), client_id: publicId, code_challenge: verifier, code_challenge_method: 'plain' };
      expectRedirectError(await get(query), 'invalid_request', state, server.url);
    });

    it('redirects a code_challenge without method back as invalid_request', async () => {
      expectRedirectError(await get({ ...valid(), client_id: publicId, code_challenge: pkce().challenge }), 'invalid_request', state, server.url);
    });

    it('redirects an unknown scope back as invalid_scope', async () => {
      expectRedirectError(await get({ ...valid(), scope: 'read:projects delete:everything' }), 'invalid_scope', state, server.url);
    });

    it.each([
      ['a billing scope for the default API', { scope: 'read:invoices' }],
      ['a projects scope for the billing API', { scope: 'read:projects', resource: BILLING_API }],
    ])('redirects %s back as invalid_scope', async (_name, extra) => {
      expectRedirectError(await get({ ...valid(), ...extra }), 'invalid_scope', state, server.url);
    });

    it('redirects an unknown resource back as invalid_target', async () => {
      expectRedirectError(await get({ ...valid(), resource: 'https://unknown.example.com' }), 'invalid_target', state, server.url);
    });

    it('redirects two resources back as invalid_target', async () => {
      const query: Array<[string, string]> = [...Object.entries(valid()), ['resource', API], ['resource', BILLING_API]];
      expectRedirectError(await get(query), 'invalid_target', state, server.url);
    });

    it('redirects a duplicated scope parameter back as invalid_request', async () => {
      const query: Array<[string, string]> = [...Object.entries(valid()), ['scope', 'read:projects'], ['scope', 'write:projects']];
      expectRedirectError(await get(query), 'invalid_request', state, server.url);
    });

    it('redirects prompt=none without a session back as login_required', async () => {
      expectRedirectError(await get({ ...valid(), prompt: 'none' }), 'login_required', state, server.url);
    });

    it('sends a valid request without a session to the login page, not to the client', async () => {
      const response = await get(valid());
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toMatch(/^\/login\?return_to=/);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('token endpoint', () => {
    const cc = { grant_type: 'client_credentials' };

    it.each([
      ['application/json', JSON.stringify({ grant_type: 'client_credentials' })],
      ['text/plain', 'grant_type=client_credentials'],
      [null, 'grant_type=client_credentials'],
    ])('refuses a body of type %s with 400 invalid_request', async (contentType, body) => {
      expectOAuthError(await token(cc, { auth: machine, contentType, body }), 400, 'invalid_request');
    });

    it.each([17 * 1024, 100 * 1024])('refuses a %i-byte form body with 400 invalid_request, not 500', async (size) => {
      const body = `grant_type=client_credentials&pad=${'a'.repeat(size)}`;
      expectOAuthError(await token(cc, { auth: machine, body }), 400, 'invalid_request');
    });

    it('refuses a duplicated parameter with invalid_request', async () => {
      const ex = await token([['grant_type', 'client_credentials'], ['grant_type', 'client_credentials']], { auth: machine });
      expectOAuthError(ex, 400, 'invalid_request');
    });

    it('refuses a missing grant_type with invalid_request', async () => {
      expectOAuthError(await token({ scope: 'read:projects' }, { auth: machine }), 400, 'invalid_request');
    });

    it('refuses the password grant with unsupported_grant_type', async () => {
      const ex = await token({ grant_type: 'password', username: 'alice', password: 'x' }, { auth: machine });
      expectOAuthError(ex, 400, 'unsupported_grant_type');
    });

    it('refuses a grant the client is not allowed with unauthorized_client', async () => {
      expectOAuthError(await token(cc, { auth: confidential }), 400, 'unauthorized_client');
    });

    it('answers a wrong secret over Basic with 401 invalid_client and WWW-Authenticate: Basic', async () => {
      const ex = await token(cc, { auth: { client_id: machine.client_id, client_secret: 'lkcs_wrong-secret-value' } });
      expectOAuthError(ex, 401, 'invalid_client');
      expect(ex.headers.get('www-authenticate')).toMatch(/^Basic /);
    });

    it('answers malformed Basic credentials with 401 invalid_client and WWW-Authenticate: Basic', async () => {
      const ex = await token(cc, { authorization: 'Basic !!!not-base64!!!' });
      expectOAuthError(ex, 401, 'invalid_client');
      expect(ex.headers.get('www-authenticate')).toMatch(/^Basic /);
    });

    it('answers a non-form body on a page route with an HTML page that keeps the page headers', async () => {
      const response = await fetch(`${server.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"x"}' });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(response.headers.get('x-frame-options')).toBe('DENY');
    });

    it('answers a wrong client_secret in the body with 401 invalid_client and a challenge (RFC 9110 §15.5.2)', async () => {
      const ex = await token({ ...cc, client_id: machine.client_id, client_secret: `${machine.client_secret}x` });
      expectOAuthError(ex, 401, 'invalid_client');
      expect(ex.headers.get('www-authenticate')).toMatch(/^Basic /);
    });

    it('answers an unknown client with 401 invalid_client, over Basic and in the body', async () => {
      const viaBasic = await token(cc, { auth: { client_id: 'no-such-client', client_secret: 'whatever-secret' } });
      expectOAuthError(viaBasic, 401, 'invalid_client');
      expect(viaBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
      expectOAuthError(await token({ ...cc, client_id: 'no-such-client', client_secret: 'whatever-secret' }), 401, 'invalid_client');
      expectOAuthError(await token({ ...cc, client_id: 'no-such-client' }), 401, 'invalid_client');
    });

    it('answers a request with no client authentication at all with 401 invalid_client', async () => {
      expectOAuthError(await token(cc), 401, 'invalid_client');
    });

    it('refuses Basic and client_secret in the body together with invalid_request', async () => {
      const ex = await token({ ...cc, client_secret: machine.client_secret }, { auth: machine });
      expectOAuthError(ex, 400, 'invalid_request');
    });

    it('refuses client_credentials to a public client with unauthorized_client', async () => {
      expectOAuthError(await token({ ...cc, client_id: publicId }), 400, 'unauthorized_client');
    });

    it('refuses a public client that sends a client_secret with 401 invalid_client', async () => {
      expectOAuthError(await token({ ...cc, client_id: publicId, client_secret: 'made-up-secret' }), 401, 'invalid_client');
    });

    it('lets a client_secret_post client in only with client_secret_post', async () => {
      const viaBasic = await token(cc, { auth: postOnly });
      expectOAuthError(viaBasic, 401, 'invalid_client');
      expect(viaBasic.headers.get('www-authenticate')).toMatch(/^Basic /);
      const viaPost = await token({ ...cc, ...postOnly });
      expect(viaPost.status, viaPost.text).toBe(200);
    });

    it('lets a client_secret_basic client in only with client_secret_basic', async () => {
      expectOAuthError(await token({ ...cc, ...basicOnly }), 401, 'invalid_client');
      const viaBasic = await token(cc, { auth: basicOnly });
      expect(viaBasic.status, viaBasic.text).toBe(200);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('code exchange', () => {
    const publicCode = async () => {
      const { verifier, challenge } = pkce();
      const code = await obtainCode(publicId, { code_challenge: challenge, code_challenge_method: 'S256' });
      return { code, verifier };
    };
    const exchangePublic = (code: string, extra: Record<string, string> = {}) =>
      token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: publicId, ...extra });
    const exchangeConfidential = (code: string, extra: Record<string, string> = {}, auth: Credentials = confidential) =>
      token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...extra }, { auth });

    it('accepts a PKCE code with the right verifier (control)', async () => {
      const { code, verifier } = await publicCode();
      const ex = await exchangePublic(code, { code_verifier: verifier });
      expect(ex.status, ex.text).toBe(200);
      expect(ex.headers.get('cache-control')).toBe('no-store');
    });

    it('refuses a PKCE code without code_verifier with invalid_grant', async () => {
      const { code } = await publicCode();
      expectOAuthError(await exchangePublic(code), 400, 'invalid_grant');
    });

    it('refuses a PKCE code with a wrong code_verifier with invalid_grant', async () => {
      const { code } = await publicCode();
      expectOAuthError(await exchangePublic(code, { code_verifier: pkce().verifier }), 400, 'invalid_grant');
    });

    it('refuses a code_verifier for a code issued without code_challenge with invalid_grant', async () => {
      const code = await obtainCode(confidential.client_id);
      expectOAuthError(await exchangeConfidential(code, { code_verifier: pkce().verifier }), 400, 'invalid_grant');
    });

    it('refuses a code presented by another client with invalid_grant', async () => {
      const code = await obtainCode(confidential.client_id);
      expectOAuthError(await exchangeConfidential(code, {}, other), 400, 'invalid_grant');
    });

    it('refuses a redirect_uri different from the authorization request with invalid_grant', async () => {
      const code = await obtainCode(confidential.client_id);
      expectOAuthError(await exchangeConfidential(code, { redirect_uri: 'http://127.0.0.1:9/other' }), 400, 'invalid_grant');
    });

    it('refuses a reused code with invalid_grant and revokes what its first use issued', async () => {
      const code = await obtainCode(confidential.client_id);
      const first = await exchangeConfidential(code);
      expect(first.status, first.text).toBe(200);
      const accessToken = first.json.access_token as string;
      const refreshToken = first.json.refresh_token as string;
      expect(await introspect(accessToken)).toMatchObject({ active: true });

      expectOAuthError(await exchangeConfidential(code), 400, 'invalid_grant');
      expect(await introspect(accessToken)).toEqual({ active: false });
      expectOAuthError(await refresh(refreshToken), 400, 'invalid_grant');
    });

    it('accepts a code up to 60 s old and refuses it after with invalid_grant', async () => {
      const fresh = await obtainCode(confidential.client_id);
      const stale = await obtainCode(confidential.client_id);
      clockSkewMs += 59_000;
      const ok = await exchangeConfidential(fresh);
      expect(ok.status, ok.text).toBe(200);
      clockSkewMs += 2_000;
      expectOAuthError(await exchangeConfidential(stale), 400, 'invalid_grant');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('refresh', () => {
    it('refuses a rotated refresh token, then the whole family, and deactivates its access tokens', async () => {
      const first = await confidentialTokens();
      const second = await refresh(first.refresh_token);
      expect(second.status, second.text).toBe(200);
      const newest = second.json.refresh_token as string;
      const latestAccess = second.json.access_token as string;
      expect(newest).not.toBe(first.refresh_token);

      expectOAuthError(await refresh(first.refresh_token), 400, 'invalid_grant');
      expectOAuthError(await refresh(newest), 400, 'invalid_grant');
      expect(await introspect(latestAccess)).toEqual({ active: false });
      expect(await introspect(first.access_token)).toEqual({ active: false });
    });

    it('narrows the scope on request and gives the full scope back on the next refresh', async () => {
      const first = await confidentialTokens('read:projects write:projects');
      expect(first.scope).toBe('read:projects write:projects');
      const narrowed = await refresh(first.refresh_token, confidential, { scope: 'read:projects' });
      expect(narrowed.status, narrowed.text).toBe(200);
      expect(narrowed.json.scope).toBe('read:projects');
      expect(await introspect(narrowed.json.access_token as string)).toMatchObject({ active: true, scope: 'read:projects' });

      const full = await refresh(narrowed.json.refresh_token as string);
      expect(full.status, full.text).toBe(200);
      expect(full.json.scope).toBe('read:projects write:projects');
    });

    it('refuses widening the scope with invalid_scope', async () => {
      const first = await confidentialTokens('read:projects');
      expectOAuthError(await refresh(first.refresh_token, confidential, { scope: 'read:projects write:projects' }), 400, 'invalid_scope');
    });

    it('refuses a refresh token presented by another client with invalid_grant', async () => {
      const first = await confidentialTokens();
      expectOAuthError(await refresh(first.refresh_token, other), 400, 'invalid_grant');
    });

    it('refuses an unknown refresh token with invalid_grant', async () => {
      expectOAuthError(await refresh('lkrt_not-a-real-refresh-token'), 400, 'invalid_grant');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('revocation', () => {
    it('answers 200 for an unknown token', async () => {
      const ex = await revoke({ token: 'lkrt_never-issued' }, confidential);
      expect(ex.status, ex.text).toBe(200);
      expect(ex.headers.get('cache-control')).toBe('no-store');
    });

    it("refuses to revoke another client's refresh token with unauthorized_client and leaves it working", async () => {
      const first = await confidentialTokens();
      expectOAuthError(await revoke({ token: first.refresh_token }, other), 400, 'unauthorized_client');
      expect(await introspect(first.access_token)).toMatchObject({ active: true });
      const still = await refresh(first.refresh_token);
      expect(still.status, still.text).toBe(200);
    });

    it("refuses to revoke another client's access token with unauthorized_client", async () => {
      const first = await confidentialTokens();
      expectOAuthError(await revoke({ token: first.access_token, token_type_hint: 'access_token' }, other), 400, 'unauthorized_client');
      expect(await introspect(first.access_token)).toMatchObject({ active: true });
    });

    it('makes every access token of the grant inactive when its refresh token is revoked', async () => {
      const first = await confidentialTokens();
      const second = await refresh(first.refresh_token);
      expect(second.status, second.text).toBe(200);
      const ex = await revoke({ token: second.json.refresh_token as string, token_type_hint: 'refresh_token' }, confidential);
      expect(ex.status, ex.text).toBe(200);
      expect(await introspect(first.access_token)).toEqual({ active: false });
      expect(await introspect(second.json.access_token as string)).toEqual({ active: false });
      expectOAuthError(await refresh(second.json.refresh_token as string), 400, 'invalid_grant');
    });

    it('makes just the revoked access token inactive', async () => {
      const first = await confidentialTokens();
      const second = await refresh(first.refresh_token);
      expect(second.status, second.text).toBe(200);
      const ex = await revoke({ token: second.json.access_token as string, token_type_hint: 'access_token' }, confidential);
      expect(ex.status, ex.text).toBe(200);
      expect(await introspect(second.json.access_token as string)).toEqual({ active: false });
      expect(await introspect(first.access_token)).toMatchObject({ active: true });
      const third = await refresh(second.json.refresh_token as string);
      expect(third.status, third.text).toBe(200);
    });

    it('refuses token_type_hint=foo with unsupported_token_type', async () => {
      const first = await confidentialTokens();
      expectOAuthError(await revoke({ token: first.refresh_token, token_type_hint: 'foo' }, confidential), 400, 'unsupported_token_type');
      expect(await introspect(first.access_token)).toMatchObject({ active: true });
    });

    it('refuses an unauthenticated request with 401 invalid_client', async () => {
      const first = await confidentialTokens();
      expectOAuthError(await revoke({ token: first.refresh_token }), 401, 'invalid_client');
      expect(await introspect(first.access_token)).toMatchObject({ active: true });
    });

    it('refuses a request without token with invalid_request', async () => {
      expectOAuthError(await revoke({}, confidential), 400, 'invalid_request');
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('introspection', () => {
    it('refuses a public client with 401 invalid_client', async () => {
      const ex = await post(url('/oauth/introspect'), { token: 'anything', client_id: publicId });
      expectOAuthError(ex, 401, 'invalid_client');
    });

    it('refuses a wrong secret over Basic with 401 invalid_client and WWW-Authenticate', async () => {
      const ex = await post(url('/oauth/introspect'), { token: 'anything' }, { auth: { client_id: machine.client_id, client_secret: 'lkcs_wrong' } });
      expectOAuthError(ex, 401, 'invalid_client');
      expect(ex.headers.get('www-authenticate')).toMatch(/^Basic /);
    });

    it('answers a garbage token with exactly {active:false}', async () => {
      const ex = await post(url('/oauth/introspect'), { token: 'garbage.garbage.garbage' }, { auth: machine });
      expect(ex.status).toBe(200);
      expect(ex.headers.get('cache-control')).toBe('no-store');
      expect(ex.json).toEqual({ active: false });
    });

    it('describes a client_credentials access token', async () => {
      const issued = await token({ grant_type: 'client_credentials' }, { auth: machine });
      expect(issued.status, issued.text).toBe(200);
      expect(issued.json.refresh_token).toBeUndefined();
      const result = await introspect(issued.json.access_token as string);
      expect(result).toMatchObject({
        active: true,
        token_type: 'Bearer',
        scope: 'read:projects',
        client_id: machine.client_id,
        sub: machine.client_id,
        aud: API,
        iss: server.url,
      });
      expect(typeof result.jti).toBe('string');
      expect(result.exp).toBe((result.iat as number) + 3600);
      expect(Math.abs((result.exp as number) - (Date.now() + clockSkewMs) / 1000 - 3600)).toBeLessThan(60);
    });
  });

  // -------------------------------------------------------------------------------------------
  describe('pages', () => {
    it.each(['//evil.example', 'https://evil.example', '/\\evil', 'evil.example'])('refuses /login?return_to=%s with 400', async (returnTo) => {
      const response = await fetch(`${url('/login')}?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
      expectErrorPage(response, 400);
    });

    it('refuses a return_to with a raw control character with 400', async () => {
      const response = await fetch(`${url('/login')}?return_to=${encodeURIComponent('/ok\r\nSet-Cookie: x=1')}`, { redirect: 'manual' });
      expectErrorPage(response, 400);
    });

    it('refuses POST /login without the CSRF cookie with 403', async () => {
      const response = await fetch(url('/login'), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: f.user.username, password: f.user.password }).toString(),
      });
      expectErrorPage(response, 403);
      expect(response.headers.getSetCookie().join(';')).not.toContain('latchkey_session');
    });

    it('refuses POST /login with the CSRF cookie but no CSRF token with 403', async () => {
      const browser = new BrowserAgent(server.url);
      expect((await browser.get('/login')).status).toBe(200);
      const response = await browser.post('/login', { username: f.user.username, password: f.user.password, return_to: '/' });
      expectErrorPage(response, 403);
      expect(browser.cookie('latchkey_session')).toBeUndefined();
    });

    it('refuses POST /consent without a session with 403', async () => {
      const response = await fetch(url('/consent'), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ decision: 'approve', interaction: 'x', csrf_token: 'y' }).toString(),
      });
      expectErrorPage(response, 403);
    });

    it('throttles a username after 5 wrong passwords, but not another username from the same address', async () => {
      const password = 'bobs right password';
      await createUser(server.ctx, { username: 'bob', password, isAdmin: false });
      const browser = new BrowserAgent(server.url);
      const loginPage = async () => {
        const page = await browser.get('/login');
        expect(page.status).toBe(200);
        return page.text();
      };
      for (let attempt = 1; attempt <= 5; attempt++) {
        const response = await browser.submitForm(await loginPage(), '/login', { username: 'bob', password: `wrong ${attempt}` });
        expect(response.status, `attempt ${attempt}`).toBe(401);
      }
      const sixth = await browser.submitForm(await loginPage(), '/login', { username: 'bob', password });
      expect(sixth.status).toBe(429);
      expect(browser.cookie('latchkey_session')).toBeUndefined();

      const alice = await browser.submitForm(await loginPage(), '/login', { username: f.user.username, password: f.user.password });
      expect(alice.status).toBe(303);
      expect(browser.cookie('latchkey_session')).toBeDefined();
    });
  });

  it('hit no unhandled error on the way (nothing above was a 500)', () => {
    expect(server.logs()).not.toContain('unhandled error');
  });
});
