import type { ResourceServerError } from './errors.js';

/** What every adapter sends when it refuses a request; `no-store` because the answer is about one token. */
export function errorHeaders(err: ResourceServerError): Record<string, string> {
  return {
    'www-authenticate': err.wwwAuthenticate,
    'cache-control': 'no-store',
    'content-type': 'application/json; charset=utf-8',
  };
}

/** The part of node's `ServerResponse` (and so of Express's `Response`) the adapters write to. */
export interface WritableResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

export function writeErrorResponse(res: WritableResponse, err: ResourceServerError): void {
  res.statusCode = err.status;
  for (const [name, value] of Object.entries(errorHeaders(err))) res.setHeader(name, value);
  res.end(JSON.stringify(err));
}
