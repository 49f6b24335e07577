import { isIP } from 'node:net';

/**
 * Every request the broker makes to a provider or a webhook receiver goes through here: a time
 * limit, no redirects followed, a bounded response body, and only https URLs (or http on loopback,
 * for local development and tests). Errors name the host and the kind of failure, never the query
 * string, the request body or the response body.
 */
const PROVIDER_TIMEOUT_MS = 15_000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

export type OutboundFailure = 'network' | 'timeout' | 'too_large' | 'redirect' | 'url_refused';

export class OutboundError extends Error {
  constructor(
    readonly failure: OutboundFailure,
    message: string,
  ) {
    super(message);
  }
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Why `url` may not be called, or undefined when it may. */
export function urlRefusal(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not an absolute URL';
  }
  if (parsed.username || parsed.password) return 'must not contain user information';
  if (parsed.hash) return 'must not have a fragment';
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && isLoopback(parsed.hostname)) return undefined;
  return 'must use https (http is allowed only on loopback)';
}

/** The URL without query or fragment, for logs and messages. */
export const describeUrl = (url: string | URL): string => {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
};

async function readBounded(response: Response): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new OutboundError('too_large', `the response of ${describeUrl(response.url)} is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

export interface OutboundOptions {
  timeoutMs?: number;
}

/**
 * A fetch with the rules above, usable wherever a fetch is taken (oauth4webapi's `customFetch`).
 * The answer's body is read in full, within the limit, before it is returned.
 */
export async function outboundFetch(input: string | URL, init: RequestInit = {}, options: OutboundOptions = {}): Promise<Response> {
  const url = String(input);
  const refusal = urlRefusal(url);
  if (refusal) throw new OutboundError('url_refused', `${describeUrl(url)} ${refusal}`);
  const timeoutMs = options.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
  let response: Response;
  let body: Uint8Array;
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal });
    body = await readBounded(response);
  } catch (err) {
    if (err instanceof OutboundError) throw err;
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new OutboundError('timeout', `${describeUrl(url)} did not answer within ${timeoutMs} ms`);
    throw new OutboundError('network', `${describeUrl(url)} could not be reached`);
  }
  if (response.status >= 300 && response.status < 400) throw new OutboundError('redirect', `${describeUrl(url)} answered with a redirect, which is not followed`);
  return new Response(body.byteLength > 0 ? new Uint8Array(body) : null, { status: response.status, statusText: response.statusText, headers: response.headers });
}
