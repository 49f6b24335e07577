export { createResourceServer, type AccessTokenClaims, type ResourceServer, type ResourceServerOptions } from './resource-server.js';
export {
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  ResourceServerError,
  TemporarilyUnavailableError,
  type ErrorBody,
} from './errors.js';
export { accessTokenOf, requireToken } from './fastify.js';
export { requireTokenMiddleware, type NextFunction, type TokenRequest } from './express.js';
export { withToken, type TokenHandler } from './node-http.js';
export type { WritableResponse } from './error-response.js';
