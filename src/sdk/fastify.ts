import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorHeaders } from './error-response.js';
import { ResourceServerError } from './errors.js';
import type { AccessTokenClaims, ResourceServer } from './resource-server.js';

// A WeakMap rather than a `request.token` augmentation: augmenting FastifyRequest would change the
// type of every Fastify request in the application, verified or not.
const verifiedClaims = new WeakMap<FastifyRequest, AccessTokenClaims>();

/**
 * A `preHandler` that refuses the request unless it carries a valid access token with all of
 * `requiredScopes`; route handlers then read the claims with `accessTokenOf(request)`.
 */
export function requireToken(
  resourceServer: ResourceServer,
  requiredScopes: readonly string[] = [],
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (request, reply) => {
    try {
      verifiedClaims.set(request, await resourceServer.verify(request.headers.authorization, requiredScopes));
      return undefined;
    } catch (err) {
      // Anything else is a fault of the API itself; Fastify answers it with 500 and logs it.
      if (!(err instanceof ResourceServerError)) throw err;
      return reply.code(err.status).headers(errorHeaders(err)).send(JSON.stringify(err));
    }
  };
}

/** The claims `requireToken` verified for this request; throws when the route has no `requireToken`. */
export function accessTokenOf(request: FastifyRequest): AccessTokenClaims {
  const claims = verifiedClaims.get(request);
  if (claims === undefined) throw new Error('accessTokenOf: requireToken is not a preHandler of this route');
  return claims;
}
