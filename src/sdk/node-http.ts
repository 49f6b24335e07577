import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeErrorResponse } from './error-response.js';
import { ResourceServerError } from './errors.js';
import type { AccessTokenClaims, ResourceServer } from './resource-server.js';

export type TokenHandler = (req: IncomingMessage, res: ServerResponse, claims: AccessTokenClaims) => void | Promise<void>;

/**
 * Wraps a `node:http` handler so it runs only for requests carrying a valid access token with all of
 * `requiredScopes`; the others are answered here.
 */
export function withToken(
  resourceServer: ResourceServer,
  requiredScopes: readonly string[],
  handler: TokenHandler,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    let claims: AccessTokenClaims;
    try {
      claims = await resourceServer.verify(req.headers.authorization, requiredScopes);
    } catch (err) {
      if (err instanceof ResourceServerError) return writeErrorResponse(res, err);
      // A fault of the API itself (such as invalid options): answer the client, then let it surface.
      res.writeHead(500, { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'server_error', error_description: 'the access token could not be checked' }));
      throw err;
    }
    await handler(req, res, claims);
  };
}
