import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashSecret } from '../crypto/secrets.js';
import { recordAudit } from '../server/audit.js';
import type { ServerContext } from '../server/context.js';
import type { ApiKeyRecord } from '../store/records.js';
import { note, noteOutcome } from './request-notes.js';

/**
 * `Authorization: Bearer <api key>` for the management APIs. A missing or wrong key answers 401 with
 * `WWW-Authenticate: Bearer` (RFC 6750 §3), never saying which of the two it was; a wrong key is
 * recorded in the audit trail.
 */
export async function requireApiKey(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply): Promise<ApiKeyRecord | undefined> {
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(request.headers.authorization ?? '');
  const key = match ? await ctx.store.apiKeys.getByHash(hashSecret(match[1]!)) : undefined;
  if (key) {
    note(request, { actor: `api_key:${key.id}` });
    return key;
  }
  if (request.headers.authorization !== undefined) await recordAudit(ctx, 'api_key.rejected', { actor: 'anonymous', ip: request.ip }, { detail: { path: request.routeOptions.url ?? 'unknown' } });
  noteOutcome(reply, 'unauthorized');
  await reply
    .status(401)
    .header('WWW-Authenticate', match ? 'Bearer realm="latchkey", error="invalid_token"' : 'Bearer realm="latchkey"')
    .send({ error: 'unauthorized', error_description: 'a valid API key is required (Authorization: Bearer <key>)' });
  return undefined;
}
