import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidRequest } from '../core/errors.js';
import { parseParams, type ParsedParams } from '../core/params.js';

export const FORM_BODY_LIMIT = 16 * 1024;

/**
 * Form bodies are kept as text and parsed by `parseParams`, which refuses duplicated parameters;
 * the framework's own parser would silently merge them into arrays.
 */
export function installFormParser(app: FastifyInstance): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_req, body, done) => {
    done(null, body);
  });
}

const FORM_MEDIA_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;

/** A NUL, encoded or not: no form field may hold one, and PostgreSQL cannot store it. */
const NUL = /%00|\0/;

/** Refuses a path parameter holding a NUL: no id holds one, and PostgreSQL could not even look one up. */
export function refuseNulInPaths(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    if (Object.values((request.params ?? {}) as Record<string, string>).some((value) => value.includes('\0'))) {
      throw new InvalidRequest('the path contains a character that is not allowed (NUL)');
    }
  });
}

/** Forms already parsed, so the rate limiter and the handler share one parse. */
const parsedForms = new WeakMap<FastifyRequest, ParsedParams>();

/** The parameters of a POST whose body must be a form (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1). */
export function formParams(request: FastifyRequest): ParsedParams {
  const parsed = parsedForms.get(request) ?? parseForm(request);
  parsedForms.set(request, parsed);
  return parsed;
}

function parseForm(request: FastifyRequest): ParsedParams {
  if (request.body === undefined || request.body === null) return parseParams('');
  // The framework's own text/plain parser also yields a string: only a form's text is a form.
  if (typeof request.body !== 'string' || !FORM_MEDIA_TYPE.test(request.headers['content-type'] ?? '')) {
    throw new InvalidRequest('the body must be application/x-www-form-urlencoded');
  }
  if (NUL.test(request.body)) throw new InvalidRequest('the request contains a character that is not allowed (NUL)');
  return parseParams(request.body);
}

/** The query string exactly as sent, without its `?`. */
export function rawQuery(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? '' : request.url.slice(q + 1);
}

/** The query string parsed without merging repeats. */
export function queryParams(request: FastifyRequest): ParsedParams {
  return parseParams(rawQuery(request));
}

export const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};

/** The path as logged: a portal link's token is a bearer secret in the path itself, so it is masked. */
export const loggedPath = (url: string): string => pathOf(url).replace(/^\/connect\/[^/]+/, '/connect/…');
