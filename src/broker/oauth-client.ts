import * as oauth from 'oauth4webapi';
import type { ProviderRecord } from '../store/records.js';
import { outboundFetch } from './outbound.js';

/**
 * oauth4webapi, where it fits the providers: discovery, PKCE and state, callback validation (state,
 * `error`, RFC 9207 `iss`) and revocation. Its requests go through the broker's outbound rules;
 * `allowInsecureRequests` is safe because those rules allow http only on loopback.
 */
export const oauthOptions = {
  [oauth.customFetch]: (url: string, init: RequestInit) => outboundFetch(url, init),
  [oauth.allowInsecureRequests]: true,
} as const;

/** What the broker checks a callback against: the issuer the provider says it is, or its authorization URL's origin. */
export function authorizationServerOf(provider: ProviderRecord, authorizeUrl: string | null, revokeUrl: string | null): oauth.AuthorizationServer {
  return {
    issuer: provider.issuer ?? new URL(authorizeUrl ?? provider.tokenUrl).origin,
    authorization_response_iss_parameter_supported: provider.issParameterSupported,
    ...(revokeUrl !== null && { revocation_endpoint: revokeUrl }),
  };
}

export { oauth };
