import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidGrant, InvalidRequest } from '../../src/core/errors.js';
import { parseChallenge, s256, verifyPkce } from '../../src/core/pkce.js';

/** RFC 7636 §4.1: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
const UNRESERVED = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'];
const verifier = fc.string({ unit: fc.constantFrom(...UNRESERVED), minLength: 43, maxLength: 128 });
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

/** A string outside the verifier grammar: wrong length, or one character outside the unreserved set. */
const malformedVerifier = fc.oneof(
  fc.string({ unit: fc.constantFrom(...UNRESERVED), maxLength: 42 }),
  fc.string({ unit: fc.constantFrom(...UNRESERVED), minLength: 129, maxLength: 160 }),
  fc
    .tuple(verifier, fc.nat(), fc.oneof(codeUnit, fc.constantFrom('+', '/', '=', ' ', '%', '\n', 'é', '\u0100', '\u012d')))
    .filter(([, , c]) => !UNRESERVED.includes(c))
    .map(([v, i, c]) => {
      const at = i % (v.length + 1);
      return v.slice(0, at) + c + v.slice(at + 1);
    }),
);

describe('PKCE S256 (property)', () => {
  it('a well-formed verifier verifies against its own challenge, which parseChallenge accepts', () => {
    fc.assert(
      fc.property(verifier, (v) => {
        const challenge = s256(v);
        expect(parseChallenge(challenge, 'S256')).toEqual({ challenge, method: 'S256' });
        expect(() => verifyPkce(challenge, v)).not.toThrow();
      }),
    );
  });

  it('any other well-formed verifier is refused as not matching', () => {
    fc.assert(
      fc.property(verifier, verifier, (v, other) => {
        fc.pre(v !== other);
        expect(() => verifyPkce(s256(v), other)).toThrow(InvalidGrant);
        expect(() => verifyPkce(s256(v), other)).toThrow(/does not match/);
      }),
    );
  });

  it('a verifier outside the RFC 7636 grammar is refused as malformed, even against its own digest', () => {
    fc.assert(
      fc.property(malformedVerifier, (v) => {
        expect(() => verifyPkce(s256(v), v)).toThrow(InvalidGrant);
        expect(() => verifyPkce(s256(v), v)).toThrow(/malformed/);
      }),
    );
  });

  it('any verifier is refused for a code issued without a challenge (downgrade)', () => {
    fc.assert(
      fc.property(fc.oneof(verifier, fc.string({ unit: codeUnit })), (v) => {
        expect(() => verifyPkce(null, v)).toThrow(InvalidGrant);
      }),
    );
  });

  it('parseChallenge accepts exactly S256 with a 43-character base64url value, and throws only InvalidRequest', () => {
    const b64url = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'];
    const challenge = fc.oneof(
      fc.string({ unit: fc.constantFrom(...b64url), minLength: 43, maxLength: 43 }),
      fc.string({ unit: fc.oneof(fc.constantFrom(...b64url, '+', '/', '='), codeUnit), minLength: 40, maxLength: 46 }),
      fc.constant(undefined),
    );
    const method = fc.oneof(fc.constantFrom('S256', 's256', 'plain', 'S256 ', 'S512', ''), fc.constant(undefined));
    fc.assert(
      fc.property(challenge, method, (c, m) => {
        const wellFormed = c !== undefined && /^[A-Za-z0-9_-]{43}$/.test(c);
        let result: unknown;
        try {
          result = parseChallenge(c, m);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
          expect(c === undefined ? m !== undefined : m !== 'S256' || !wellFormed).toBe(true);
          return;
        }
        if (c === undefined) {
          expect(m).toBeUndefined();
          expect(result).toBeUndefined();
        } else {
          expect(m).toBe('S256');
          expect(wellFormed).toBe(true);
          expect(result).toEqual({ challenge: c, method: 'S256' });
        }
      }),
    );
  });
});
