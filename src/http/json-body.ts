import type { FastifyInstance } from 'fastify';
import { InvalidRequest } from '../core/errors.js';
import { pathOf } from './form.js';
import { noteOutcome } from './request-notes.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/**
 * Path parameters with a NUL are refused everywhere. The management APIs take JSON bodies only. A form or text body would otherwise be parsed by its
 * own parser and fail validation as a 400; it is an unsupported media type (RFC 9110 §15.5.16).
 */
export function requireJsonBodies(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    // No id holds a NUL, and PostgreSQL could not even look one up.
    if (Object.values((request.params ?? {}) as Record<string, string>).some((value) => value.includes('\0'))) {
      throw new InvalidRequest('the path contains a character that is not allowed (NUL)');
    }
    if (request.body === undefined || !pathOf(request.url).startsWith('/api/')) return;
    if (JSON_MEDIA_TYPE.test(request.headers['content-type'] ?? '')) return;
    noteOutcome(reply, 'invalid_request');
    return reply.status(415).header('Cache-Control', 'no-store').send(new InvalidRequest('unsupported content type: send application/json').toJSON());
  });
}
