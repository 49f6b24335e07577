import type { FastifyInstance } from 'fastify';
import { InvalidRequest } from '../core/errors.js';
import { pathOf } from './form.js';
import { noteOutcome } from './request-notes.js';

const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i;

/**
 * The management APIs take JSON bodies only. A form or text body would otherwise be parsed by its
 * own parser and fail validation as a 400; it is an unsupported media type (RFC 9110 §15.5.16).
 */
export function requireJsonBodies(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    if (request.body === undefined || !pathOf(request.url).startsWith('/api/')) return;
    if (JSON_MEDIA_TYPE.test(request.headers['content-type'] ?? '')) return;
    noteOutcome(reply, 'invalid_request');
    return reply.status(415).header('Cache-Control', 'no-store').send(new InvalidRequest('unsupported content type: send application/json').toJSON());
  });
}
