import type { FastifyReply, FastifyRequest } from 'fastify';

/** What a request's log line says beyond method, path and status; never a secret. */
export interface RequestNotes {
  /** The client that authenticated, or that a failed attempt named. */
  clientId?: string;
  /** The error code answered (RFC 6749 §5.2 code, or the API's own). */
  error?: string;
  /** Who made a management call: `api_key:<id>`. */
  actor?: string;
}

const notes = new WeakMap<FastifyRequest, RequestNotes>();

export function note(request: FastifyRequest, fields: RequestNotes): void {
  notes.set(request, { ...notes.get(request), ...fields });
}

export function noteOutcome(reply: FastifyReply, error: string): void {
  note(reply.request, { error });
}

export function notesOf(request: FastifyRequest): RequestNotes {
  return notes.get(request) ?? {};
}
