import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerError } from '../broker/errors.js';
import type { ServerContext } from '../server/context.js';
import { currentSession, SESSION_COOKIE, type Session } from '../server/session.js';
import { requireApiKey } from './api-key-auth.js';
import { note } from './request-notes.js';

/** Who calls the management API: a server with an API key, or a signed-in user's browser. */
export type BrokerCaller = { kind: 'api_key' } | { kind: 'session'; session: Session };

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Authenticates a management call. An Authorization header means an API key (401 when wrong). A
 * session cookie is taken only where `allowSession`, else 403; its state-changing calls must carry
 * an Origin equal to the issuer's (a cross-site form or fetch cannot forge one). Returns undefined
 * once the reply has been sent.
 */
export async function brokerCaller(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, allowSession: boolean): Promise<BrokerCaller | undefined> {
  if (request.headers.authorization !== undefined || request.cookies[SESSION_COOKIE] === undefined) {
    return (await requireApiKey(ctx, request, reply)) ? { kind: 'api_key' } : undefined;
  }
  const session = await currentSession(ctx, request.cookies[SESSION_COOKIE]);
  if (!session) return (await requireApiKey(ctx, request, reply)) ? { kind: 'api_key' } : undefined;
  if (!allowSession) throw new BrokerError('forbidden', 'this endpoint needs an API key');
  if (STATE_CHANGING.has(request.method) && request.headers.origin !== new URL(ctx.config.issuer).origin) {
    throw new BrokerError('forbidden', 'a browser call that changes state must come from this server’s origin');
  }
  note(request, { actor: `user:${session.user.id}` });
  return { kind: 'session', session };
}
