import type { AuditEventView } from '../../src/admin/audit.js';
import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { BrowserAgent } from './browser-agent.js';
import { runCli } from './cli-process.js';
import { REDIRECT_URI, type TestServer } from './server.js';

/**
 * Small helpers shared by the hardening-*.test.ts files: form and JSON calls answered in full, the
 * audit trail through the admin API and the CLI, the server's log lines, and a movable clock.
 */

export type Credentials = { client_id: string; client_secret: string };

/** RFC 6749 §2.3.1: id and secret are form-encoded before being joined and base64-encoded. */
export const basic = (c: Credentials): string => `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret)}`).toString('base64')}`;

/** A response read in full. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // left empty: assertions on `json` show the text
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** POSTs a form (or a raw form body) to a path of the server, optionally with client_secret_basic. */
export async function postForm(
  server: TestServer,
  path: string,
  fields: Record<string, string> | string,
  options: { auth?: Credentials; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.auth && { authorization: basic(options.auth) }), ...options.headers },
    body: typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(),
  });
  return answerOf(response);
}

export const tokenRequest = (server: TestServer, fields: Record<string, string> | string, auth?: Credentials): Promise<Answer> =>
  postForm(server, '/oauth/token', fields, auth ? { auth } : {});

/** RFC 7662 as `as` sees the token: `active` and the rest. */
export async function introspect(server: TestServer, token: string, as: Credentials): Promise<Record<string, unknown>> {
  const answer = await postForm(server, '/oauth/introspect', { token }, { auth: as });
  expect(answer.status, answer.text).toBe(200);
  return answer.json;
}

/** A call to the admin REST API with an API key; a body object is sent as JSON. */
export async function adminCall(server: TestServer, apiKey: string | null, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.url}/api/v1/admin${path}`, {
    method,
    headers: { ...(apiKey !== null && { authorization: `Bearer ${apiKey}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return answerOf(response);
}

/** An audit event as the admin API and `audit list --json` print it. */
export type AuditEventJson = AuditEventView;

/** `GET /api/v1/admin/audit` with these filters; expects 200 and returns the events. */
export async function auditEvents(server: TestServer, apiKey: string, query: Record<string, string> = {}): Promise<AuditEventJson[]> {
  const search = new URLSearchParams(query).toString();
  const answer = await adminCall(server, apiKey, 'GET', `/audit${search ? `?${search}` : ''}`);
  expect(answer.status, answer.text).toBe(200);
  expect(Array.isArray(JSON.parse(answer.text))).toBe(true);
  return JSON.parse(answer.text) as AuditEventJson[];
}

/** The id of the API key named `name` (the fixture's is "tests"). */
export async function apiKeyId(server: TestServer, apiKey: string, name = 'tests'): Promise<string> {
  const answer = await adminCall(server, apiKey, 'GET', '/api-keys');
  const keys = JSON.parse(answer.text) as { id: string; name: string }[];
  const found = keys.find((k) => k.name === name);
  expect(found, answer.text).toBeDefined();
  return found!.id;
}

/** The built CLI against the server's database, beside the running server. */
export function latchkey(server: TestServer, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCli([...args, '--database-url', server.db.url], { LATCHKEY_MASTER_KEY: server.masterKey });
}

/** A CLI command with --json that must succeed; its one JSON document. */
export async function latchkeyJson<T = Record<string, unknown>>(server: TestServer, args: string[]): Promise<T> {
  const result = await latchkey(server, [...args, '--json']);
  expect(result.code, `${args.join(' ')}: ${result.stdout}${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Every JSON line the server logged so far, parsed. */
export function logLines(server: TestServer): Record<string, unknown>[] {
  return server
    .logs()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A clock for `startTestServer({ now })` that tests move forward. */
export function movableClock(): { now: () => number; advance: (ms: number) => void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms;
    },
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorization endpoint's URL with these parameters (response_type=code and the fixture's redirect URI by default). */
export function authorizeUrl(server: TestServer, params: Record<string, string>): URL {
  const url = new URL('/oauth/authorize', server.url);
  url.search = new URLSearchParams({ response_type: 'code', redirect_uri: REDIRECT_URI, state: 'st', ...params }).toString();
  return url;
}

/** Runs an authorization request through login and consent in `agent`; returns the code sent back. */
export async function obtainCode(agent: BrowserAgent, server: TestServer, user: { username: string; password: string }, params: Record<string, string>): Promise<string> {
  const back = await agent.authorize(authorizeUrl(server, params), user);
  const code = back.searchParams.get('code');
  expect(code, back.href).toBeTruthy();
  return code!;
}

/** A CSRF token and cookie for the login form, from GET /login in a fresh agent. */
export async function loginForm(server: TestServer): Promise<{ agent: BrowserAgent; csrf: string }> {
  const agent = new BrowserAgent(server.url);
  const page = await agent.get('/login');
  expect(page.status).toBe(200);
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(await page.text())?.[1];
  expect(csrf).toBeTruthy();
  return { agent, csrf: csrf! };
}

/** POSTs the login form from `agent` (which has the CSRF cookie), optionally as if from `forwardedFor`. */
export async function postLogin(
  agent: BrowserAgent,
  csrf: string,
  fields: { username: string; password: string; return_to?: string },
  forwardedFor?: string,
): Promise<Response> {
  return fetch(new URL('/login', agent.base), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: agent.cookieHeader(), ...(forwardedFor && { 'x-forwarded-for': forwardedFor }) },
    body: new URLSearchParams({ csrf_token: csrf, return_to: '/', ...fields }).toString(),
  });
}

/** RFC 6749 §5.2 / Appendix A: error_description is %x20-21 / %x23-5B / %x5D-7E only. */
export const RFC6749_DESCRIPTION = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;
