import { writeErrorResponse, type WritableResponse } from './error-response.js';
import { ResourceServerError } from './errors.js';
import type { AccessTokenClaims, ResourceServer } from './resource-server.js';

/** The part of an Express (or Connect) request the middleware uses; it adds `auth`. */
export interface TokenRequest {
  headers: { authorization?: string | undefined };
  auth?: AccessTokenClaims;
}

export type NextFunction = (err?: unknown) => void;

/**
 * Express/Connect middleware that refuses the request unless it carries a valid access token with all
 * of `requiredScopes`, and otherwise puts its claims on `req.auth`. Typed structurally, so the SDK does
 * not depend on Express.
 */
export function requireTokenMiddleware(
  resourceServer: ResourceServer,
  requiredScopes: readonly string[] = [],
): (req: TokenRequest, res: WritableResponse, next: NextFunction) => void {
  return (req, res, next) => {
    resourceServer.verify(req.headers.authorization, requiredScopes).then(
      (claims) => {
        req.auth = claims;
        next();
      },
      (err: unknown) => {
        // Anything else is a fault of the API itself, for the application's error handler.
        if (err instanceof ResourceServerError) writeErrorResponse(res, err);
        else next(err);
      },
    );
  };
}
