import { describe, expect, it } from 'vitest';
import { InvalidGrant, InvalidRequest } from '../../src/core/errors.js';
import { parseChallenge, s256, verifyPkce } from '../../src/core/pkce.js';

// RFC 7636 Appendix B.
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

describe('s256', () => {
  it('matches the RFC 7636 Appendix B vector', () => {
    expect(s256(VERIFIER)).toBe(CHALLENGE);
  });

  it('gives different challenges for different verifiers', () => {
    expect(s256(VERIFIER + 'a')).not.toBe(CHALLENGE);
  });
});

describe('parseChallenge', () => {
  it('accepts an S256 challenge', () => {
    expect(parseChallenge(CHALLENGE, 'S256')).toEqual({ challenge: CHALLENGE, method: 'S256' });
  });

  it('returns undefined when neither parameter is present', () => {
    expect(parseChallenge(undefined, undefined)).toBeUndefined();
  });

  it('refuses plain', () => {
    expect(() => parseChallenge(CHALLENGE, 'plain')).toThrow(InvalidRequest);
  });

  it('refuses other method spellings', () => {
    expect(() => parseChallenge(CHALLENGE, 's256')).toThrow(InvalidRequest);
  });

  it('refuses a challenge without a method', () => {
    expect(() => parseChallenge(CHALLENGE, undefined)).toThrow(InvalidRequest);
  });

  it('refuses a method without a challenge', () => {
    expect(() => parseChallenge(undefined, 'S256')).toThrow(InvalidRequest);
  });

  it.each([
    ['too short', CHALLENGE.slice(0, 42)],
    ['too long', CHALLENGE + 'A'],
    ['base64 padding', CHALLENGE.slice(0, 42) + '='],
    ['standard base64 characters', CHALLENGE.replace('-', '+')],
    ['a verifier-length string', VERIFIER + 'abcdef'],
  ])('refuses a malformed challenge (%s)', (_name, challenge) => {
    expect(() => parseChallenge(challenge, 'S256')).toThrow(InvalidRequest);
  });
});

describe('verifyPkce', () => {
  it('accepts the matching verifier', () => {
    expect(() => verifyPkce(CHALLENGE, VERIFIER)).not.toThrow();
  });

  it('accepts no verifier when the code had no challenge', () => {
    expect(() => verifyPkce(null, undefined)).not.toThrow();
  });

  it('refuses a well-formed verifier that does not match', () => {
    const other = 'A'.repeat(43);
    expect(() => verifyPkce(CHALLENGE, other)).toThrow(InvalidGrant);
    expect(() => verifyPkce(CHALLENGE, other)).toThrow(/does not match/);
  });

  it.each([
    ['too short', 'a'.repeat(42)],
    ['too long', 'a'.repeat(129)],
    ['a character outside the unreserved set', VERIFIER.slice(0, 42) + '+'],
    ['a space', VERIFIER.slice(0, 42) + ' '],
  ])('refuses a malformed verifier (%s)', (_name, verifier) => {
    expect(() => verifyPkce(CHALLENGE, verifier)).toThrow(InvalidGrant);
    expect(() => verifyPkce(CHALLENGE, verifier)).toThrow(/malformed/);
  });

  it('accepts verifiers of the boundary lengths 43 and 128', () => {
    const short = 'b'.repeat(43);
    const long = 'c'.repeat(128);
    expect(() => verifyPkce(s256(short), short)).not.toThrow();
    expect(() => verifyPkce(s256(long), long)).not.toThrow();
  });

  it('refuses a verifier for a code issued without a challenge (downgrade)', () => {
    expect(() => verifyPkce(null, VERIFIER)).toThrow(InvalidGrant);
  });

  it('refuses a missing verifier when the code has a challenge', () => {
    expect(() => verifyPkce(CHALLENGE, undefined)).toThrow(InvalidGrant);
  });

  it('refuses the challenge itself sent as the verifier', () => {
    expect(() => verifyPkce(CHALLENGE, CHALLENGE)).toThrow(InvalidGrant);
  });
});
