import { errors } from 'jose';

/**
 * Says in fixed words why jose refused a token; undefined when `err` did not come from jose. jose's
 * own messages are not reused: they quote claim names, and RFC 6750 forbids quotes inside
 * `error_description`.
 */
export function describeJoseFailure(err: unknown): string | undefined {
  if (!(err instanceof errors.JOSEError)) return undefined;
  if (err instanceof errors.JWTExpired) return 'the access token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return describeClaimFailure(err.claim, err.reason);
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the access token signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return 'the access token is signed with a key the issuer does not publish';
  if (err instanceof errors.JWKSMultipleMatchingKeys) return 'the access token does not identify its signing key';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the access token is signed with an algorithm this API does not accept';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'the access token is malformed';
  return 'the access token is invalid';
}

function describeClaimFailure(claim: string, reason: string): string {
  if (reason === 'missing') return `the access token lacks the ${claim} claim`;
  switch (claim) {
    case 'typ':
      return 'the token is not an access token (typ must be at+jwt)';
    case 'iss':
      return 'the access token was issued by another authorization server';
    case 'aud':
      return 'the access token was not issued for this API';
    case 'nbf':
      return 'the access token is not valid yet';
    default:
      return `the access token has an invalid ${claim} claim`;
  }
}
