import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config.js';

/**
 * Structured JSON logs. Redaction is a second line of defence: no code path logs headers, bodies or
 * query strings, but if one ever did, these fields would still be blanked. An authorization code is
 * blanked only where a request's parameters would put it (`params`, `query`, `body`): a bare `code`
 * field is an error's code (`ECONNREFUSED`), which operators need to see.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['*.authorization', '*.cookie', '*.password', '*.client_secret', '*.access_token', '*.refresh_token', 'params.code', 'query.code', 'body.code', '*.params.code', '*.query.code', '*.body.code', '*.code_verifier', '*.token', '*.key'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
