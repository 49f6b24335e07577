import { parseBasicCredentials } from '../core/basic-auth.js';
import { InvalidClient, InvalidRequest } from '../core/errors.js';
import type { Params } from '../core/params.js';
import { secretMatchesHash } from '../crypto/secrets.js';
import type { ClientAuthMethod, ClientRecord } from '../store/records.js';
import { recordAudit } from './audit.js';
import type { ServerContext } from './context.js';

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod | 'none';
}

/** Why authentication failed: logged at debug and audited, never told to the caller. */
type FailureReason = 'unknown_client' | 'public_client_sent_secret' | 'confidential_client_sent_no_secret' | 'auth_method_not_allowed' | 'wrong_secret' | 'malformed_basic';

/**
 * Authenticates the client of a token, revocation or introspection request (RFC 6749 §2.3):
 * `client_secret_basic`, `client_secret_post`, or `none` for public clients. Using two methods at
 * once is refused (§2.3). Every failure says the same thing, so that it does not tell an attacker
 * whether a client id exists; the reason goes to the debug log and the audit trail.
 */
export async function authenticateClient(ctx: ServerContext, authorization: string | undefined, params: Params, ip: string): Promise<AuthenticatedClient> {
  const bodySecret = params.get('client_secret');
  const bodyId = params.get('client_id');
  const fail = async (clientId: string | null, reason: FailureReason): Promise<never> => {
    ctx.logger.debug({ clientId, reason }, 'client authentication failed');
    await recordAudit(ctx, 'client.auth_failed', { actor: 'anonymous', ip }, { clientId, detail: { reason } });
    throw new InvalidClient('client authentication failed');
  };

  if (authorization !== undefined && /^basic /i.test(authorization)) {
    if (bodySecret !== undefined) throw new InvalidRequest('use one client authentication method, not two');
    const credentials = parseBasicCredentials(authorization);
    if (!credentials) return fail(null, 'malformed_basic');
    if (bodyId !== undefined && bodyId !== credentials.clientId) throw new InvalidRequest('client_id does not match the Basic credentials');
    const client = await ctx.store.clients.get(credentials.clientId);
    const problem = secretProblem(ctx, client, credentials.clientSecret, 'client_secret_basic');
    if (problem) return fail(credentials.clientId, problem);
    return { client: client!, method: 'client_secret_basic' };
  }

  if (bodyId === undefined) throw new InvalidClient('client authentication required');
  const client = await ctx.store.clients.get(bodyId);
  if (bodySecret !== undefined) {
    const problem = secretProblem(ctx, client, bodySecret, 'client_secret_post');
    if (problem) return fail(bodyId, problem);
    return { client: client!, method: 'client_secret_post' };
  }
  if (!client) return fail(bodyId, 'unknown_client');
  if (!client.isPublic) return fail(bodyId, 'confidential_client_sent_no_secret');
  return { client, method: 'none' };
}

/**
 * What is wrong with a secret presented for `client`, or undefined when it is right. The previous
 * secret is still right until its grace period after a rotation ends.
 */
function secretProblem(ctx: ServerContext, client: ClientRecord | undefined, secret: string, method: ClientAuthMethod): FailureReason | undefined {
  if (!client) return 'unknown_client';
  if (client.isPublic || client.secretHash === null) return 'public_client_sent_secret';
  if (client.authMethod !== null && client.authMethod !== method) return 'auth_method_not_allowed';
  if (secretMatchesHash(secret, client.secretHash)) return undefined;
  const previousValid = client.previousSecretHash !== null && client.previousSecretExpiresAt !== null && client.previousSecretExpiresAt > ctx.now();
  if (previousValid && secretMatchesHash(secret, client.previousSecretHash!)) return undefined;
  return 'wrong_secret';
}
