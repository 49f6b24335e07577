import { parseBasicCredentials } from '../core/basic-auth.js';
import { InvalidClient, InvalidRequest } from '../core/errors.js';
import type { Params } from '../core/params.js';
import { secretMatchesHash } from '../crypto/secrets.js';
import type { ClientAuthMethod, ClientRecord } from '../store/records.js';
import type { ServerContext } from './context.js';

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod | 'none';
}

/**
 * Authenticates the client of a token, revocation or introspection request (RFC 6749 §2.3):
 * `client_secret_basic`, `client_secret_post`, or `none` for public clients. Using two methods at
 * once is refused (§2.3). Every failure says the same thing, so that it does not tell an attacker
 * whether a client id exists.
 */
export async function authenticateClient(ctx: ServerContext, authorization: string | undefined, params: Params): Promise<AuthenticatedClient> {
  const bodySecret = params.get('client_secret');
  const bodyId = params.get('client_id');

  if (authorization !== undefined && /^basic /i.test(authorization)) {
    if (bodySecret !== undefined) throw new InvalidRequest('use one client authentication method, not two');
    const credentials = parseBasicCredentials(authorization);
    if (!credentials) throw new InvalidClient('malformed Basic credentials');
    if (bodyId !== undefined && bodyId !== credentials.clientId) throw new InvalidRequest('client_id does not match the Basic credentials');
    const client = await confidentialClient(ctx, credentials.clientId, credentials.clientSecret, 'client_secret_basic');
    if (!client) throw new InvalidClient('client authentication failed');
    return { client, method: 'client_secret_basic' };
  }

  if (bodyId === undefined) throw new InvalidClient('client authentication required');
  if (bodySecret !== undefined) {
    const client = await confidentialClient(ctx, bodyId, bodySecret, 'client_secret_post');
    if (!client) throw new InvalidClient('client authentication failed');
    return { client, method: 'client_secret_post' };
  }
  const client = await ctx.store.clients.get(bodyId);
  if (!client || !client.isPublic) throw new InvalidClient('client authentication failed');
  return { client, method: 'none' };
}

async function confidentialClient(ctx: ServerContext, id: string, secret: string, method: ClientAuthMethod): Promise<ClientRecord | undefined> {
  const client = await ctx.store.clients.get(id);
  if (!client || client.isPublic || client.secretHash === null) return undefined;
  if (client.authMethod !== null && client.authMethod !== method) return undefined;
  return secretMatchesHash(secret, client.secretHash) ? client : undefined;
}
