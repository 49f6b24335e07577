import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseBasicCredentials } from '../core/basic-auth.js';
import type { ServerContext } from '../server/context.js';
import { countFailedAuthentication, refuseIfThrottled, type ThrottleSubject } from '../server/throttle.js';
import { formParams, pathOf } from './form.js';
import { isPageRoute } from './pages.js';
import { note } from './request-notes.js';

/** Endpoints where a client authenticates with its secret (RFC 6749 §2.3). */
const CLIENT_AUTH_PATHS = new Set(['/oauth/token', '/oauth/revoke', '/oauth/introspect']);

/** The client id a request names, from Basic credentials or the form; not yet authenticated. */
function namedClientId(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization !== undefined && /^basic /i.test(authorization)) return parseBasicCredentials(authorization)?.clientId;
  try {
    return formParams(request).single.get('client_id');
  } catch {
    // Not a form: the handler answers that; there is no client id to count against.
    return undefined;
  }
}

function subjectOf(request: FastifyRequest): ThrottleSubject | undefined {
  const path = pathOf(request.url);
  if (CLIENT_AUTH_PATHS.has(path)) return { address: request.ip, clientId: namedClientId(request)?.slice(0, 200) };
  if (path.startsWith('/api/') && !isPageRoute(request)) return { address: request.ip };
  return undefined;
}

/**
 * Rate limits on failed authentication, per client id and per address, at the token, revocation and
 * introspection endpoints and the management APIs: a request over a limit is answered 429 with
 * `Retry-After` before anything is checked, and every 401 counts. The counters are in the store, so
 * every process sharing the database enforces the same limits.
 */
export function installThrottle(app: FastifyInstance, ctx: ServerContext): void {
  app.addHook('preHandler', async (request) => {
    const subject = subjectOf(request);
    if (!subject) return;
    if (subject.clientId !== undefined) note(request, { clientId: subject.clientId });
    await refuseIfThrottled(ctx, subject);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode !== 401) return payload;
    const subject = subjectOf(request);
    // A failure to count must not turn the 401 into a 500.
    if (subject) await countFailedAuthentication(ctx, subject).catch((err: Error) => ctx.logger.error({ reqId: request.id, err: { type: err.name, message: err.message } }, 'could not count a failed authentication'));
    return payload;
  });
}
