import { BrokerError } from './errors.js';
import { oauth, oauthOptions } from './oauth-client.js';

export interface DiscoveredProvider {
  issuer: string;
  authorizeUrl: string | null;
  tokenUrl: string;
  revokeUrl: string | null;
  userinfoUrl: string | null;
  issParameterSupported: boolean;
  authMethod: 'client_secret_basic' | 'client_secret_post' | undefined;
}

/**
 * Reads a provider's metadata from its issuer: RFC 8414 first, then OpenID discovery. The issuer in
 * the document must be the one asked for (RFC 8414 §3.3), which oauth4webapi checks.
 */
export async function discoverProvider(issuer: string): Promise<DiscoveredProvider> {
  const issuerUrl = new URL(issuer);
  let metadata: oauth.AuthorizationServer | undefined;
  for (const algorithm of ['oauth2', 'oidc'] as const) {
    try {
      metadata = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { algorithm, ...oauthOptions }));
      break;
    } catch {
      // Try the other well-known location.
    }
  }
  if (!metadata?.token_endpoint) throw new BrokerError('invalid_request', `no usable OAuth 2.0 metadata was found for issuer ${issuerUrl.origin}`);
  const methods = metadata.token_endpoint_auth_methods_supported;
  return {
    issuer: metadata.issuer,
    authorizeUrl: metadata.authorization_endpoint ?? null,
    tokenUrl: metadata.token_endpoint,
    revokeUrl: metadata.revocation_endpoint ?? null,
    userinfoUrl: metadata.userinfo_endpoint ?? null,
    issParameterSupported: metadata.authorization_response_iss_parameter_supported === true,
    authMethod: methods === undefined || methods.includes('client_secret_basic') ? 'client_secret_basic' : methods.includes('client_secret_post') ? 'client_secret_post' : undefined,
  };
}
