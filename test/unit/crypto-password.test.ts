import { describe, expect, it } from 'vitest';
import { decoyPasswordHash, hashPassword, verifyPassword } from '../../src/crypto/password.js';

describe('hashPassword and verifyPassword', () => {
  it('round-trips, and refuses a wrong password', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    expect(await verifyPassword('correct horse battery staple', encoded)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', encoded)).toBe(false);
    expect(await verifyPassword('', encoded)).toBe(false);
  });

  it('encodes scrypt$N$r$p$salt$hash with the configured parameters', async () => {
    const encoded = await hashPassword('pw');
    const parts = encoded.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', '32768', '8', '1']);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[5]!, 'base64url')).toHaveLength(32);
    expect(encoded).not.toContain('pw$');
  });

  it('salts: two hashes of the same password differ and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(a.split('$')[4]).not.toBe(b.split('$')[4]);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('normalizes Unicode (NFKC), so composed and decomposed forms match', async () => {
    const encoded = await hashPassword('caf\u00e9');
    expect(await verifyPassword('cafe\u0301', encoded)).toBe(true);
  });

  it('refuses a hash whose stored value was altered', async () => {
    const encoded = await hashPassword('pw');
    const parts = encoded.split('$');
    const hash = Buffer.from(parts[5]!, 'base64url');
    hash[0] = hash[0]! ^ 1;
    parts[5] = hash.toString('base64url');
    expect(await verifyPassword('pw', parts.join('$'))).toBe(false);
  });

  it('verifies with the parameters stored in the hash, not the current ones', async () => {
    // A hash made with N=1024 must still verify (parameters can be raised later without a migration).
    const { scryptSync } = await import('node:crypto');
    const salt = Buffer.alloc(16, 7);
    const key = scryptSync('old', salt, 32, { N: 1024, r: 8, p: 1 });
    const encoded = ['scrypt', 1024, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
    expect(await verifyPassword('old', encoded)).toBe(true);
    expect(await verifyPassword('new', encoded)).toBe(false);
  });

  it.each([
    ['the empty string', ''],
    ['plain text', 'password'],
    ['another algorithm', 'bcrypt$32768$8$1$c2FsdA$aGFzaA'],
    ['too few fields', 'scrypt$32768$8$1$c2FsdA'],
    ['too many fields', 'scrypt$32768$8$1$c2FsdA$aGFzaA$x'],
    ['a non-numeric N', 'scrypt$abc$8$1$c2FsdA$aGFzaA'],
    ['N not a power of two', 'scrypt$1000$8$1$c2FsdA$aGFzaA'],
    ['N = 0', 'scrypt$0$8$1$c2FsdA$aGFzaA'],
    ['a negative r', 'scrypt$1024$-8$1$c2FsdA$aGFzaA'],
    ['an empty p', 'scrypt$1024$8$$c2FsdA$aGFzaA'],
    ['an impossibly large N', 'scrypt$1073741824$8$1$c2FsdA$aGFzaA'],
    ['an empty hash', 'scrypt$1024$8$1$c2FsdA$'],
  ])('returns false, without throwing, for a malformed hash (%s)', async (_name, encoded) => {
    await expect(verifyPassword('password', encoded)).resolves.toBe(false);
  });

  it('gives a stable decoy hash in the same format', async () => {
    const decoy = await decoyPasswordHash();
    expect(decoy).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await decoyPasswordHash()).toBe(decoy);
    expect(await verifyPassword('anything', decoy)).toBe(false);
  });
});
