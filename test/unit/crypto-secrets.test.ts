import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SECRET_PREFIX, hashSecret, newId, newSecret, randomToken, secretMatchesHash } from '../../src/crypto/secrets.js';

describe('newSecret', () => {
  it.each([
    ['clientSecret', 'lkcs_'],
    ['refreshToken', 'lkrt_'],
    ['apiKey', 'lkak_'],
    ['code', ''],
  ] as const)('gives a %s the prefix %j and 32 random bytes', (kind, prefix) => {
    expect(SECRET_PREFIX[kind]).toBe(prefix);
    const secret = newSecret(kind);
    expect(secret.startsWith(prefix)).toBe(true);
    const body = secret.slice(prefix.length);
    expect(body).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(body, 'base64url')).toHaveLength(32);
  });

  it('never repeats', () => {
    const seen = new Set(Array.from({ length: 200 }, () => newSecret('clientSecret')));
    expect(seen.size).toBe(200);
  });

  it('uses the whole byte range (not a constant or low-entropy source)', () => {
    const bytes = Buffer.concat(Array.from({ length: 64 }, () => Buffer.from(newSecret('code'), 'base64url')));
    expect(new Set(bytes).size).toBeGreaterThan(200);
  });
});

describe('randomToken and newId', () => {
  it('encodes the requested number of bytes', () => {
    expect(Buffer.from(randomToken(16), 'base64url')).toHaveLength(16);
    expect(Buffer.from(randomToken(), 'base64url')).toHaveLength(32);
  });

  it('prefixes ids and makes them random', () => {
    const id = newId('cl_');
    expect(id).toMatch(/^cl_[0-9a-f]{24}$/);
    expect(newId('cl_')).not.toBe(id);
  });

  it('never starts an id with "-", which the CLI would read as an option', () => {
    // base64url ids started with "-" once in 64; 2,000 draws would all but surely show one.
    for (let i = 0; i < 2000; i++) expect(newId()).toMatch(/^[0-9a-f]/);
  });
});

describe('hashSecret and secretMatchesHash', () => {
  it('is deterministic and not the input', () => {
    const secret = newSecret('refreshToken');
    expect(hashSecret(secret)).toBe(hashSecret(secret));
    expect(hashSecret(secret)).not.toBe(secret);
    expect(hashSecret(secret)).not.toContain(secret.slice(5));
  });

  it('is the base64url SHA-256 of the UTF-8 secret', () => {
    expect(hashSecret('abc')).toBe(createHash('sha256').update('abc').digest('base64url'));
    expect(hashSecret('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  it('differs for different secrets', () => {
    expect(hashSecret('a')).not.toBe(hashSecret('b'));
    expect(hashSecret('lkcs_x')).not.toBe(hashSecret('lkrt_x'));
  });

  it('matches the right secret only', () => {
    const secret = newSecret('clientSecret');
    const stored = hashSecret(secret);
    expect(secretMatchesHash(secret, stored)).toBe(true);
    expect(secretMatchesHash(secret + 'x', stored)).toBe(false);
    expect(secretMatchesHash(newSecret('clientSecret'), stored)).toBe(false);
  });

  it('does not match the stored hash itself, or a truncated or empty hash', () => {
    const secret = newSecret('clientSecret');
    const stored = hashSecret(secret);
    expect(secretMatchesHash(stored, stored)).toBe(false);
    expect(secretMatchesHash(secret, stored.slice(0, -1))).toBe(false);
    expect(secretMatchesHash(secret, '')).toBe(false);
  });
});
