import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret } from '../crypto/secrets.js';
import type { ApiKeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

/**
 * `Authorization: Bearer <api key>` for the management APIs. A missing or wrong key answers 401 with
 * `WWW-Authenticate: Bearer` (RFC 6750 §3), never saying which of the two it was.
 */
export async function requireApiKey(store: Store, request: FastifyRequest, reply: FastifyReply): Promise<ApiKeyRecord | undefined> {
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(request.headers.authorization ?? '');
  const key = match ? await store.apiKeys.getByHash(hashSecret(match[1]!)) : undefined;
  if (key) return key;
  await reply
    .status(401)
    .header('WWW-Authenticate', match ? 'Bearer realm="latchkey", error="invalid_token"' : 'Bearer realm="latchkey"')
    .send({ error: 'unauthorized', error_description: 'a valid API key is required (Authorization: Bearer <key>)' });
  return undefined;
}
