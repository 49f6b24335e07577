import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config.js';

/**
 * Structured JSON logs. Redaction is a second line of defence: no code path logs headers, bodies or
 * query strings, but if one ever did, these fields would still be blanked.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: {
        paths: ['*.authorization', '*.cookie', '*.password', '*.client_secret', '*.access_token', '*.refresh_token', '*.code', '*.code_verifier', '*.token', '*.key'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination({ sync: false }),
  );
}
