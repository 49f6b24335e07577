import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/**
 * Tools for fuzzing the HTTP surface: requests sent byte for byte (node:http, one connection each,
 * or a raw socket for what node:http refuses to send), the route table of the running app, and the
 * checks every answer must pass whatever was sent.
 */

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

export interface FuzzRequest {
  method: string;
  /** Path and query as sent; characters above U+00FF must already be bytes (see `bytesAsLatin1`). */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Markers placed somewhere in the request; none may come back unescaped. */
  markers?: string[];
  /** What the request tries, for reports. */
  note?: string;
}

export interface FuzzResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Counts every request sent, so the run can state how many it made. */
export const sent = { http: 0, raw: 0 };

/** One request on its own connection; rejects only when no HTTP answer came at all. */
export function sendHttp(port: number, req: FuzzRequest, timeoutMs = 10_000): Promise<FuzzResponse> {
  sent.http++;
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    // Without it node:http sends a GET's or DELETE's body with no framing at all (read as the next request).
    if (req.body !== undefined && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-length')) headers['content-length'] = String(Buffer.byteLength(req.body));
    const outgoing = request({ host: '127.0.0.1', port, method: req.method, path: req.path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    // The server may answer (413) and close before a large body is fully written.
    outgoing.on('socket', (socket) => socket.on('error', () => undefined));
    outgoing.end(req.body);
  });
}

export interface RawResponse {
  /** Everything the server wrote before closing (or before the timeout). */
  text: string;
  status: number | undefined;
  headers: Map<string, string>;
  body: string;
  /** Milliseconds from the first byte sent to the connection's end. */
  elapsedMs: number;
  /** Whether the server closed the connection (rather than our timeout). */
  closed: boolean;
}

/**
 * Writes `chunks` to a fresh TCP connection (a number is a pause in ms between writes) and collects
 * the answer until the server closes, or `timeoutMs` passes.
 */
export function sendRaw(port: number, chunks: (string | Buffer | number)[], timeoutMs = 5_000): Promise<RawResponse> {
  sent.raw++;
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    const received: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = new Map<string, string>();
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      resolve({ text, status: match ? Number(match[1]) : undefined, headers, body: Buffer.from(rest.join('\r\n\r\n'), 'latin1').toString('utf8'), elapsedMs: Date.now() - started, closed });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish();
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      if (Date.now() - started < timeoutMs) finish();
    });
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (typeof chunk === 'number') await new Promise((r) => setTimeout(r, chunk));
        else if (!socket.destroyed) socket.write(chunk);
      }
    });
  });
}

/** Runs `work` over `items` with at most `limit` in flight, keeping order in the results. */
export async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Encoding hostile text
// ---------------------------------------------------------------------------------------------

/**
 * WTF-8: UTF-8, except that a lone surrogate becomes its own three bytes (U+D800 → ED A0 80), as a
 * careless client would send it. Well-formed text gives exactly its UTF-8.
 */
export function wtf8(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Buffer.from(bytes);
}

/** Percent-encodes every byte outside the unreserved set (lone surrogates as WTF-8). */
export function pct(text: string): string {
  return [...wtf8(text)].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/**
 * Text as it may go raw into a request target with node:http: its WTF-8 bytes as latin1 characters,
 * with only the bytes node:http refuses in a path (controls, space, DEL) percent-encoded. `%`, `&`,
 * `=` and bytes above 0x7F stay raw.
 */
export function rawTarget(text: string): string {
  return [...wtf8(text)].map((b) => (b <= 0x20 || b === 0x7f ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b))).join('');
}

/** A header value node:http will send: the WTF-8 bytes as latin1 (so U+20AC goes as E2 82 AC). */
export function bytesAsLatin1(text: string): string {
  return wtf8(text).toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// The app's routes
// ---------------------------------------------------------------------------------------------

/**
 * `METHOD /path/:param` for every route of the app, from Fastify's route tree print-out (HEAD is
 * left out: Fastify adds it to every GET route).
 */
export function routesOf(tree: string): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const segment = match[2]!;
    const parent = depth === 0 ? '' : prefixes[depth - 1]!;
    const path = parent === '' ? segment : parent.endsWith('/') || segment.startsWith('/') ? `${parent}${segment}` : `${parent}/${segment}`;
    prefixes[depth] = path;
    prefixes.length = depth + 1;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim())) {
      if (method !== '' && method !== 'HEAD') routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

/** A route pattern as a regular expression on the raw path (a parameter is one segment, possibly empty, as Fastify matches it). */
export function routePattern(pattern: string): RegExp {
  const source = pattern
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

// ---------------------------------------------------------------------------------------------
// What every answer must satisfy
// ---------------------------------------------------------------------------------------------

/** How an endpoint answers: a page (HTML), OAuth §5.2 JSON, a management API's JSON, other JSON, or Prometheus text. */
export type AnswerKind = 'page' | 'oauth' | 'api' | 'json' | 'metrics';

export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/** RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2, plus temporarily_unavailable for the throttle. */
export const OAUTH_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'unsupported_token_type',
  'temporarily_unavailable',
]);

/** RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E. */
export const DESCRIPTION_CHARSET = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/** Texts only a framework's or runtime's own error answer would contain. */
const FRAMEWORK_TRACES: [string, RegExp][] = [
  ['a Fastify error code', /FST_ERR/],
  ['a "statusCode" field', /"statusCode"/],
  ['"Client Error"', /Client Error/],
  ['a stack trace line', /^\s*at .+(\(|:\d+:\d+)/m],
  ['a Node error code', /\b(ERR_[A-Z_]{4,}|ECONNRESET|ENOENT|SQLITE_[A-Z]+)\b/],
];

/** The fixed answers written straight to the socket for requests Node's parser refuses (before any route is known). */
const PARSER_ANSWERS = new Map([
  [400, 'the request is malformed'],
  [408, 'the request was not received in time'],
  [431, 'the request headers are too large'],
]);

/** Whether an answer came from the parser-level handler: exactly its content type and fixed body. */
export function isParserLevel(res: FuzzResponse): boolean {
  const description = PARSER_ANSWERS.get(res.status);
  return description !== undefined && res.headers['content-type'] === 'application/json' && res.body === JSON.stringify({ error: 'invalid_request', error_description: description });
}

const headerValues = (headers: IncomingHttpHeaders): [string, string][] =>
  Object.entries(headers).flatMap(([name, value]) => (value === undefined ? [] : [value].flat().map((v): [string, string] => [name, v])));

const isJson = (headers: IncomingHttpHeaders) => /^application\/json\s*(;|$)/i.test(headers['content-type'] ?? '');

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Everything wrong with one answer, as short findings (empty when it is fine). `kind` is how the
 * endpoint the request reached must answer.
 */
export function problemsOf(req: FuzzRequest, res: FuzzResponse, kind: AnswerKind): string[] {
  const problems: string[] = [];
  const add = (text: string) => problems.push(text);
  const isHead = req.method === 'HEAD';

  if (res.status >= 500) add(`status ${res.status}`);
  if (res.status < 100) add('no status');
  for (const [what, pattern] of FRAMEWORK_TRACES) if (pattern.test(res.body)) add(`body contains ${what}`);

  for (const [name, value] of headerValues(res.headers)) {
    if (/[^\t\x20-\x7e]/.test(value)) add(`header ${name} has a byte outside visible ASCII`);
  }
  if (res.headers['x-injected'] !== undefined) add('an injected header came back');

  const isData = res.status < 300 && isJson(res.headers);
  for (const marker of req.markers ?? []) {
    // A JSON success returns what was stored (a name given to a new API key): data, not a reflection.
    if (!isData && res.body.includes(marker)) add(`the marker ${marker.replace(/\d+/, 'N')} is reflected unescaped in the body`);
    for (const [name, value] of headerValues(res.headers)) if (value.includes(marker)) add(`the marker is reflected in header ${name}`);
  }

  // Answers the parser wrote before any route ran: only their fixed shape is checked. A 204 has no body.
  if (isParserLevel(res) || res.status === 204) return problems;
  if (res.headers['x-content-type-options'] !== 'nosniff') add('no X-Content-Type-Options: nosniff');
  if (res.headers['referrer-policy'] !== 'no-referrer') add('no Referrer-Policy: no-referrer');
  // Every answer is uncacheable, except the public discovery documents.
  if (!req.path.startsWith('/.well-known/') && !/\bno-store\b/.test(String(res.headers['cache-control'] ?? ''))) add('no Cache-Control: no-store');
  if (res.status === 405) {
    const allow = String(res.headers.allow ?? '');
    if (allow === '') add('a 405 without Allow');
    else if (allow.split(/,\s*/).includes(req.method)) add(`a 405 for ${req.method} although its Allow lists ${req.method}`);
  }

  const redirect = res.status >= 300 && res.status < 400;
  if (redirect && !res.headers.location) add(`a ${res.status} without Location`);

  if (kind === 'page') {
    if (!redirect) {
      if (!/^text\/html\s*;/i.test(res.headers['content-type'] ?? '')) add(`a page answered ${res.headers['content-type'] ?? 'no content type'} (status ${res.status})`);
      if (res.headers['content-security-policy'] !== PAGE_CSP) add(`a page answered without its Content-Security-Policy (status ${res.status})`);
      if (res.headers['x-frame-options'] !== 'DENY') add(`a page answered without X-Frame-Options: DENY (status ${res.status})`);
    }
    return problems;
  }
  if (kind === 'metrics' && res.status === 200) {
    if (!/^text\/plain/.test(res.headers['content-type'] ?? '')) add('metrics not text/plain');
    return problems;
  }
  if (redirect) {
    add(`a JSON endpoint redirected (${res.status})`);
    return problems;
  }

  // JSON endpoints (and the 404/405 of unknown paths and methods)
  if (!isJson(res.headers)) {
    add(`a JSON endpoint answered ${res.headers['content-type'] ?? 'no content type'} (status ${res.status})`);
    return problems;
  }
  if (isHead) return problems;
  const json = parseJson(res.body);
  if (json === undefined) {
    add('the body is not JSON');
    return problems;
  }
  if (res.status < 400) return problems;
  const error = (json as { error?: unknown }).error;
  const description = (json as { error_description?: unknown }).error_description;
  if (typeof error !== 'string') {
    add(`an error answer (${res.status}) without a string "error"`);
    return problems;
  }
  if (!/^[a-z_]{3,40}$/.test(error)) add(`an odd error code ${JSON.stringify(error.slice(0, 40))}`);
  if (description !== undefined && typeof description !== 'string') add('error_description is not a string');
  if (kind === 'oauth') {
    if (!OAUTH_ERROR_CODES.has(error)) add(`error "${error}" is not an RFC 6749/7009/8707 code (status ${res.status})`);
    if (typeof description !== 'string') add('no error_description');
    else if (!DESCRIPTION_CHARSET.test(description)) add('error_description has characters outside RFC 6749 §5.2');
    if (res.status === 401 && !/^Basic /.test(String(res.headers['www-authenticate'] ?? ''))) add('a 401 without WWW-Authenticate: Basic');
  }
  if (kind === 'api' && res.status === 401 && !/^Bearer /.test(String(res.headers['www-authenticate'] ?? ''))) add('a 401 without WWW-Authenticate: Bearer');
  if (res.status === 429 && !/^[1-9][0-9]*$/.test(String(res.headers['retry-after'] ?? ''))) add('a 429 without Retry-After seconds');
  return problems;
}

/**
 * Findings grouped by what went wrong, each with the endpoints where it showed and the first request
 * that showed it, so that a failure reads as a short list of defects rather than thousands of lines.
 */
export class Findings {
  private readonly groups = new Map<string, { count: number; wheres: Set<string>; example: string }>();
  serverErrors = 0;

  record(where: string, req: FuzzRequest, res: FuzzResponse | undefined, problems: string[]): void {
    if (res && res.status >= 500) this.serverErrors++;
    for (const problem of new Set(problems)) {
      const group = this.groups.get(problem) ?? { count: 0, wheres: new Set<string>(), example: describeExchange(req, res) };
      group.count++;
      group.wheres.add(where);
      this.groups.set(problem, group);
    }
  }

  /** One entry per finding: how often, where (at most 30 endpoints named), and the first example. */
  report(): string[] {
    return [...this.groups].map(([problem, { count, wheres, example }]) => {
      const named = [...wheres].slice(0, 30).join('; ') + (wheres.size > 30 ? `; and ${wheres.size - 30} more` : '');
      return `${problem} (×${count}) at ${named}\n    e.g. ${example}`;
    });
  }
}

const shorten = (text: string, max = 160) => {
  const flat = JSON.stringify(text).slice(1, -1);
  return flat.length > max ? `${flat.slice(0, max)}…(${text.length} chars)` : flat;
};

export function describeExchange(req: FuzzRequest, res: FuzzResponse | undefined): string {
  const headers = Object.entries(req.headers ?? {})
    .filter(([name]) => name !== 'content-length')
    .map(([name, value]) => `${name}: ${shorten([value].flat().join(' | '), 60)}`)
    .join('; ');
  const body = req.body === undefined ? '' : ` body=${shorten(req.body.toString(), 100)}`;
  const answer = res ? `${res.status} ${res.headers['content-type'] ?? '-'} ${shorten(res.body, 140)}` : 'no answer';
  return `${req.method} ${shorten(req.path, 140)}${headers ? ` [${headers}]` : ''}${body} → ${answer}`;
}
