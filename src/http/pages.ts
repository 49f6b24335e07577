import type { FastifyReply, FastifyRequest } from 'fastify';

/** Whether the matched route serves HTML pages (`config: { page: true }`), so its errors are pages too. */
export const isPageRoute = (request: FastifyRequest): boolean => (request.routeOptions.config as { page?: boolean } | undefined)?.page === true;

/**
 * Headers of every HTML page: no framing (clickjacking on consent), no scripts at all, no caching.
 * `form-action` is left out on purpose: browsers apply it to the redirect that follows a consent
 * form, which goes to the client's redirect URI.
 */
export function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .status(status)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
    .header('X-Frame-Options', 'DENY')
    .header('Cache-Control', 'no-store')
    .send(body);
}
