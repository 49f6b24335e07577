import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Random secrets carry a short prefix saying what they are, so that secret scanners and people can
 * tell a leaked client secret from a refresh token. 32 random bytes = 256 bits of entropy.
 */
export const SECRET_PREFIX = {
  clientSecret: 'lkcs_',
  refreshToken: 'lkrt_',
  apiKey: 'lkak_',
  code: '',
} as const;

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function newSecret(kind: keyof typeof SECRET_PREFIX): string {
  return SECRET_PREFIX[kind] + randomToken(32);
}

/**
 * Ids are random rather than sequential so that they reveal nothing about volume or order. Hex, not
 * base64url: an id that began with `-` would be read as an option when passed to the CLI.
 */
export function newId(prefix = ''): string {
  return prefix + randomBytes(12).toString('hex');
}

/**
 * Secrets with 256 bits of entropy need no slow KDF: a plain SHA-256 cannot be brute-forced, and it
 * keeps the token endpoint fast.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

export function secretMatchesHash(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
