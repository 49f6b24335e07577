import type { FastifyRequest } from 'fastify';
import type { Actor } from '../server/audit.js';
import { notesOf } from './request-notes.js';

/** Who makes a request, for the audit trail: as authenticated so far (an API key), else anonymous. */
export function actorOf(request: FastifyRequest): Actor {
  return { actor: notesOf(request).actor ?? 'anonymous', ip: request.ip };
}
