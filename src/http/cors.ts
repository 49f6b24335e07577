import type { FastifyInstance } from 'fastify';
import { pathOf } from './form.js';

/**
 * Browser apps (public clients with PKCE) call these from their own origin. None of them reads a
 * cookie, so answering any origin without credentials gives a page nothing it could not do itself.
 * Introspection is left out: it is for resource servers, not browsers. The pages and the admin API
 * are never cross-origin.
 */
const CROSS_ORIGIN_PATHS = new Set(['/oauth/token', '/oauth/revoke', '/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.well-known/jwks.json']);

export function installCors(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!CROSS_ORIGIN_PATHS.has(pathOf(request.url))) return;
    reply.header('Access-Control-Allow-Origin', '*');
    if (request.method !== 'OPTIONS') return;
    // A preflight: answered here, before routing, for every listed path.
    return reply
      .status(204)
      .header('Access-Control-Allow-Methods', pathOf(request.url).startsWith('/oauth/') ? 'POST' : 'GET')
      .header('Access-Control-Allow-Headers', 'Authorization, Content-Type')
      .header('Access-Control-Max-Age', '600')
      .send();
  });
}
