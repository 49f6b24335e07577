import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '../crypto/secrets.js';
import type { ServerContext } from '../server/context.js';
import { cookieOptions } from '../server/session.js';

/**
 * A random value that ties a form or a flow to the browser that started it: read from cookie `name`,
 * or set there on first sight. The server keeps only what it binds to it (an HMAC, a hash).
 */
export function browserBinding(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, name: string): string {
  const existing = request.cookies[name];
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const value = randomToken(32);
  reply.setCookie(name, value, cookieOptions(ctx));
  return value;
}
