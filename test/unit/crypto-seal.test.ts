import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterKeyError, MasterKeyRing, SealError } from '../../src/crypto/seal.js';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');

function fingerprintOf(base64: string): string {
  return 'k' + createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex').slice(0, 8);
}

/** Flips one bit of the decoded part `index` of a sealed value. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('MasterKeyRing.parse', () => {
  it('gives a single key a kid derived from the key', () => {
    const ring = MasterKeyRing.parse(KEY_A);
    expect(ring.current.kid).toBe(fingerprintOf(KEY_A));
    expect(ring.current.kid).toMatch(/^k[0-9a-f]{8}$/);
    expect(ring.current.key.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(MasterKeyRing.parse(KEY_B).current.kid).not.toBe(ring.current.kid);
  });

  it('trims whitespace around the key', () => {
    expect(MasterKeyRing.parse(`  ${KEY_A}\n`).current.kid).toBe(fingerprintOf(KEY_A));
  });

  it('reads a list of kid:key, the last of which seals', () => {
    const ring = MasterKeyRing.parse(`old:${KEY_A}, new:${KEY_B}`);
    expect(ring.current.kid).toBe('new');
    expect(ring.current.key.equals(Buffer.alloc(32, 2))).toBe(true);
    expect(MasterKeyRing.kidOf(ring.seal('x', 'ctx'))).toBe('new');
  });

  it('refuses duplicate kids', () => {
    expect(() => MasterKeyRing.parse(`a:${KEY_A},a:${KEY_B}`)).toThrow(MasterKeyError);
    expect(() => MasterKeyRing.parse(`${KEY_A},${KEY_A}`)).toThrow(MasterKeyError);
  });

  it.each([
    ['16 bytes', randomBytes(16).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['a kid with a 31-byte key', `a:${randomBytes(31).toString('base64')}`],
    ['a kid with no key', 'a:'],
  ])('refuses a key of the wrong length (%s)', (_name, text) => {
    expect(() => MasterKeyRing.parse(text)).toThrow(MasterKeyError);
  });

  it.each([
    ['empty', ''],
    ['only commas', ' , ,'],
    ['a kid with a dot', `a.b:${KEY_A}`],
    ['an empty kid', `:${KEY_A}`],
    ['a 33-character kid', `${'k'.repeat(33)}:${KEY_A}`],
  ])('refuses %s', (_name, text) => {
    expect(() => MasterKeyRing.parse(text)).toThrow(MasterKeyError);
  });

  it('generates keys that parse', () => {
    const text = MasterKeyRing.generateText();
    expect(Buffer.from(text, 'base64')).toHaveLength(32);
    expect(() => MasterKeyRing.parse(text)).not.toThrow();
    expect(MasterKeyRing.generateText()).not.toBe(text);
  });
});

describe('seal and open', () => {
  const ring = MasterKeyRing.parse(`k1:${KEY_A}`);

  it('round-trips, including the empty string and non-ASCII text', () => {
    for (const plaintext of ['client secret', '', 'ünïcödé ✓', 'x'.repeat(10_000)]) {
      expect(ring.open(ring.seal(plaintext, 'clients:abc'), 'clients:abc')).toBe(plaintext);
    }
  });

  it('has the v1.<kid>.<iv>.<body> form', () => {
    const sealed = ring.seal('hello', 'ctx');
    const parts = sealed.split('.');
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe('k1');
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    // 5 bytes of ciphertext + 16 bytes of tag.
    expect(Buffer.from(parts[3]!, 'base64url')).toHaveLength(5 + 16);
  });

  it('does not contain the plaintext, and seals the same value differently each time', () => {
    const secret = 'lkcs_supersecretvalue';
    const a = ring.seal(secret, 'ctx');
    const b = ring.seal(secret, 'ctx');
    expect(a).not.toContain(secret);
    expect(a).not.toContain(Buffer.from(secret).toString('base64url'));
    expect(a).not.toBe(b);
  });

  it('fails to open under another context (AAD)', () => {
    const sealed = ring.seal('secret', 'clients:abc');
    expect(() => ring.open(sealed, 'clients:abd')).toThrow(SealError);
    expect(() => ring.open(sealed, '')).toThrow(SealError);
  });

  it('fails to open a tampered ciphertext, tag or iv', () => {
    const sealed = ring.seal('secret value', 'ctx');
    expect(() => ring.open(tamper(sealed, 3), 'ctx')).toThrow(SealError);
    expect(() => ring.open(tamper(sealed, 2), 'ctx')).toThrow(SealError);
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[body.length - 1] = body[body.length - 1]! ^ 0x80;
    parts[3] = body.toString('base64url');
    expect(() => ring.open(parts.join('.'), 'ctx')).toThrow(SealError);
  });

  it('fails to open a value sealed under an unknown kid', () => {
    const other = MasterKeyRing.parse(`k2:${KEY_B}`);
    expect(() => ring.open(other.seal('x', 'ctx'), 'ctx')).toThrow(/"k2"/);
  });

  it('fails to open under a different key with the same kid', () => {
    const impostor = MasterKeyRing.parse(`k1:${KEY_B}`);
    expect(() => ring.open(impostor.seal('x', 'ctx'), 'ctx')).toThrow(SealError);
  });

  it.each([
    ['plain text', 'secret'],
    ['another version', 'v2.k1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
    ['too few parts', 'v1.k1.AAAA'],
    ['too many parts', 'v1.k1.AAAA.AAAA.AAAA'],
    ['a truncated body', 'v1.k1.AAAAAAAAAAAAAAAA.AAAA'],
    ['an empty iv', 'v1.k1..' + Buffer.alloc(20).toString('base64url')],
  ])('refuses %s with a SealError', (_name, sealed) => {
    expect(() => ring.open(sealed, 'ctx')).toThrow(SealError);
  });

  it('still opens values sealed under an older key after a new one is added, and seals under the new one', () => {
    const before = MasterKeyRing.parse(`old:${KEY_A}`);
    const sealedOld = before.seal('kept', 'ctx');
    const after = MasterKeyRing.parse(`old:${KEY_A},new:${KEY_B}`);
    expect(after.open(sealedOld, 'ctx')).toBe('kept');
    const sealedNew = after.seal('fresh', 'ctx');
    expect(MasterKeyRing.kidOf(sealedNew)).toBe('new');
    expect(after.open(sealedNew, 'ctx')).toBe('fresh');
    expect(() => before.open(sealedNew, 'ctx')).toThrow(SealError);
  });

  it('also keeps older keys given without kids', () => {
    const sealedOld = MasterKeyRing.parse(KEY_A).seal('kept', 'ctx');
    const after = MasterKeyRing.parse(`${KEY_A},${KEY_B}`);
    expect(after.open(sealedOld, 'ctx')).toBe('kept');
    expect(after.current.kid).toBe(fingerprintOf(KEY_B));
  });
});

describe('kidOf', () => {
  it('returns the kid of a sealed value', () => {
    expect(MasterKeyRing.kidOf(MasterKeyRing.parse(`abc_-1:${KEY_A}`).seal('x', 'c'))).toBe('abc_-1');
    expect(MasterKeyRing.kidOf(MasterKeyRing.parse(KEY_A).seal('x', 'c'))).toBe(fingerprintOf(KEY_A));
  });

  it('returns undefined for a value with no dots', () => {
    expect(MasterKeyRing.kidOf('nodots')).toBeUndefined();
  });
});

describe('subkey and mac', () => {
  const ring = MasterKeyRing.parse(`k1:${KEY_A}`);

  it('derives distinct 32-byte subkeys per purpose, none equal to the master key', () => {
    const csrf = ring.subkey('csrf');
    expect(csrf).toHaveLength(32);
    expect(csrf.equals(ring.subkey('csrf'))).toBe(true);
    expect(csrf.equals(ring.subkey('session'))).toBe(false);
    expect(csrf.equals(ring.current.key)).toBe(false);
  });

  it('macs deterministically, per purpose and data', () => {
    expect(ring.mac('csrf', 'a')).toBe(ring.mac('csrf', 'a'));
    expect(ring.mac('csrf', 'a')).not.toBe(ring.mac('csrf', 'b'));
    expect(ring.mac('csrf', 'a')).not.toBe(ring.mac('other', 'a'));
    expect(ring.mac('csrf', 'a')).not.toBe(MasterKeyRing.parse(`k1:${KEY_B}`).mac('csrf', 'a'));
  });
});
