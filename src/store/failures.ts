/** Codes of a database that cannot be reached or is shutting down (Node's socket errors, PostgreSQL class 08 and 57P). */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'SQLITE_BUSY', '57P01', '57P02', '57P03']);

/** The pool's own words when a connection dies or cannot be had in time; it gives them no code. */
const UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/** True when a store call failed because the database is unreachable or busy, not because of the request. */
export function isStoreUnavailable(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/**
 * True when PostgreSQL refused a value it cannot store in a text column: a NUL character (22021) or
 * one outside the encoding (22P05). SQLite stores these; no identifier contains them.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '22021' || code === '22P05';
}
