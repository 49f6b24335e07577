import type { ServerContext } from './context.js';
import { GRANT_TYPES } from './grants/registry.js';
import { definedScopes } from './resource.js';

const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none'];

/** RFC 8414 authorization server metadata; also served as OpenID discovery for clients that look there. */
export async function authorizationServerMetadata(ctx: ServerContext): Promise<Record<string, unknown>> {
  const issuer = ctx.config.issuer;
  const scopes = await definedScopes(ctx.store);
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    scopes_supported: scopes,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: GRANT_TYPES,
    token_endpoint_auth_methods_supported: AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: AUTH_METHODS,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ['none', 'consent'],
    // RFC 9068 access tokens are signed with the algorithms of the published keys.
    access_token_signing_alg_values_supported: [...new Set(ctx.keys.jwks().keys.map((k) => k.alg))],
  };
}
