import type { Params } from '../../core/params.js';
import type { ClientRecord, GrantType } from '../../store/records.js';
import type { ServerContext } from '../context.js';
import type { TokenResponse } from '../issue.js';
import { authorizationCodeGrant } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import { refreshTokenGrant } from './refresh-token.js';

/** `ip` is the caller's address, for the audit trail. */
export type GrantHandler = (ctx: ServerContext, client: ClientRecord, params: Params, resources: string[], ip: string) => Promise<TokenResponse>;

/** The grant types the token endpoint serves; metadata advertises exactly these. */
export const GRANTS: Record<GrantType, GrantHandler> = {
  authorization_code: authorizationCodeGrant,
  client_credentials: clientCredentialsGrant,
  refresh_token: refreshTokenGrant,
};

export const GRANT_TYPES = Object.keys(GRANTS) as GrantType[];

export function isGrantType(value: string): value is GrantType {
  return Object.hasOwn(GRANTS, value);
}
