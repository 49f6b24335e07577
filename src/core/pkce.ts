import { createHash, timingSafeEqual } from 'node:crypto';
import { InvalidGrant, InvalidRequest } from './errors.js';

/** RFC 7636 §4.1: 43 to 128 characters from the unreserved set. */
const VERIFIER_PATTERN = /^[A-Za-z0-9\-._~]{43,128}$/;
/** An S256 challenge is the base64url SHA-256 of a verifier: always 43 characters. */
const CHALLENGE_PATTERN = /^[A-Za-z0-9\-_]{43}$/;

export interface PkceChallenge {
  challenge: string;
  method: 'S256';
}

/**
 * Checks the PKCE parameters of an authorization request. Only S256 is accepted; `plain` would let
 * an attacker who sees the request redeem the code. Returns undefined when the request has none.
 */
export function parseChallenge(challenge: string | undefined, method: string | undefined): PkceChallenge | undefined {
  if (challenge === undefined) {
    if (method !== undefined) throw new InvalidRequest('code_challenge_method given without code_challenge');
    return undefined;
  }
  if (method === undefined) throw new InvalidRequest('code_challenge_method is required and must be S256');
  if (method !== 'S256') throw new InvalidRequest('code_challenge_method must be S256; plain is not supported');
  if (!CHALLENGE_PATTERN.test(challenge)) throw new InvalidRequest('code_challenge must be a base64url SHA-256 digest (43 characters)');
  return { challenge, method: 'S256' };
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * Checks a code_verifier against the challenge the code was issued for. A verifier sent for a code
 * issued without a challenge is refused too (RFC 9700 §2.1.1: prevents a PKCE downgrade).
 */
export function verifyPkce(stored: string | null, verifier: string | undefined): void {
  if (stored === null) {
    if (verifier !== undefined) throw new InvalidGrant('code_verifier sent, but the authorization request had no code_challenge');
    return;
  }
  if (verifier === undefined) throw new InvalidGrant('code_verifier is required for this code');
  if (!VERIFIER_PATTERN.test(verifier)) throw new InvalidGrant('code_verifier is malformed');
  const expected = Buffer.from(stored);
  const actual = Buffer.from(s256(verifier));
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new InvalidGrant('code_verifier does not match the code_challenge');
  }
}
