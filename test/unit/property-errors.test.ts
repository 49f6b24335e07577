import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CatalogTemplateError } from '../../src/broker/catalog/catalog.js';
import {
  AccessDenied,
  ConsentRequired,
  errorText,
  InsufficientScope,
  InvalidClient,
  InvalidGrant,
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
  InvalidToken,
  LoginRequired,
  OAuthError,
  quoted,
  ServerError,
  TemporarilyUnavailable,
  UnauthorizedClient,
  UnsupportedGrantType,
  UnsupportedResponseType,
  UnsupportedTokenType,
} from '../../src/core/errors.js';

/** RFC 6749 §5.2: error_description = *( %x20-21 / %x23-5B / %x5D-7E ); error = 1*( same ). */
const DESCRIPTION = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;

const makers: [string, (description: string) => OAuthError][] = [
  ['InvalidRequest', (d) => new InvalidRequest(d)],
  ['InvalidClient', (d) => new InvalidClient(d)],
  ['InvalidGrant', (d) => new InvalidGrant(d)],
  ['UnauthorizedClient', (d) => new UnauthorizedClient(d)],
  ['UnsupportedGrantType', (d) => new UnsupportedGrantType(d)],
  ['UnsupportedResponseType', (d) => new UnsupportedResponseType(d)],
  ['UnsupportedTokenType', (d) => new UnsupportedTokenType(d)],
  ['InvalidScope', (d) => new InvalidScope(d)],
  ['InvalidTarget', (d) => new InvalidTarget(d)],
  ['AccessDenied', (d) => new AccessDenied(d)],
  ['LoginRequired', (d) => new LoginRequired(d)],
  ['ConsentRequired', (d) => new ConsentRequired(d)],
  ['ServerError', (d) => new ServerError(d)],
  ['InvalidToken', (d) => new InvalidToken(d)],
  ['InsufficientScope', (d) => new InsufficientScope(d, ['read'])],
  ['TemporarilyUnavailable', (d) => new TemporarilyUnavailable(d, 30)],
  ['CatalogTemplateError', (d) => new CatalogTemplateError(d, 'shop')],
];

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Arbitrary UTF-16 (lone surrogates included), biased towards the characters §5.2 excludes. */
const hostile = fc.string({
  unit: fc.oneof(fc.constantFrom('"', '\\', '§', '\n', '\r', '\t', '\u0000', '\u007f', '\u2028', 'é', '😀', "'"), codeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
  maxLength: 60,
});
const allowed = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c).map((c) => String.fromCharCode(c)), maxLength: 60 });

describe('OAuth error bodies (property)', () => {
  it.each(makers)('%s: toJSON() has an RFC 6749 §5.2 error and error_description for any description', (_name, make) => {
    fc.assert(
      fc.property(hostile, (description) => {
        const body = make(description).toJSON();
        expect(body.error).toMatch(ERROR_CODE);
        expect(body.error_description).toMatch(DESCRIPTION);
        // And it survives JSON serialisation as the same two members.
        expect(JSON.parse(JSON.stringify(make(description)))).toEqual(body);
      }),
      { numRuns: 40 },
    );
  });

  it('a description already within the §5.2 set is kept verbatim', () => {
    fc.assert(
      fc.property(allowed, fc.constantFrom(...makers), (description, [, make]) => {
        const err = make(description);
        expect(err.toJSON().error_description).toBe(description);
        expect(err.message).toBe(description);
      }),
    );
  });

  it('errorText is idempotent and its output is within the set', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const once = errorText(text);
        expect(once).toMatch(DESCRIPTION);
        expect(errorText(once)).toBe(once);
      }),
    );
  });

  it('quoted() is within the set, delimited by apostrophes with none inside, and bounded by the limit', () => {
    fc.assert(
      fc.property(fc.oneof(hostile, allowed), fc.integer({ min: 1, max: 50 }), (input, max) => {
        const q = quoted(input, max);
        expect(q).toMatch(DESCRIPTION);
        expect(q.startsWith("'") && q.endsWith("'")).toBe(true);
        expect(q.slice(1, -1)).not.toContain("'");
        // Each input code unit becomes at most "section " (8 characters); "..." marks a cut.
        expect(q.length).toBeLessThanOrEqual(2 + 8 * Math.min(input.length, max) + 3);
        if (input.length > max) expect(q.endsWith("...'")).toBe(true);
        if (input.length <= max && /^[\x20\x21\x23-\x26\x28-\x5B\x5D-\x7E]*$/.test(input)) expect(q).toBe(`'${input}'`);
      }),
    );
  });
});
