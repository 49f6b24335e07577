import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSafeReturnTo, locationHeaderValue } from '../../src/core/return-to.js';

const ORIGIN = 'https://issuer.example';

/** Pieces that URL parsers treat specially, mixed with arbitrary code units (lone surrogates included). */
const piece = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/', '\\', '.', '..', ':', '@', '%', '%2F', '%5C', '%2e', '\t', '\n', '\r', ' ', '#', '?', 'evil.example', 'https:', 'javascript:') },
  { weight: 2, arbitrary: fc.constantFrom('\u3002', '\uFF0F', '\uFF3C', '\u2215', '\u2044', '\u00A0', '\u200B', '\uFEFF', '\u0000', '\u007F', '\u0085', '\u2028', 'é', '😀') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
);
const candidate = fc.array(piece, { maxLength: 10 }).map((parts) => parts.join(''));
/** Values that start with "/" (the interesting ones), and anything. */
const returnTo = fc.oneof(candidate.map((s) => `/${s}`), candidate);

describe('isSafeReturnTo (property)', () => {
  it('every accepted value stays on the issuer origin when resolved as a URL', () => {
    fc.assert(
      fc.property(returnTo, (value) => {
        fc.pre(isSafeReturnTo(value));
        expect(new URL(value, ORIGIN).origin, JSON.stringify(value)).toBe(ORIGIN);
      }),
      { numRuns: 300 },
    );
  });

  it('every accepted value, made into a Location header value, still stays on the issuer origin and means the same URL', () => {
    fc.assert(
      fc.property(returnTo, (value) => {
        fc.pre(isSafeReturnTo(value));
        const location = locationHeaderValue(value);
        const resolved = new URL(location, ORIGIN);
        expect(resolved.origin, JSON.stringify(location)).toBe(ORIGIN);
        // Same URL, except that trailing spaces (which a URL parser strips, and a header value cannot end with) are kept as %20.
        if (!value.endsWith(' ')) expect(resolved.href).toBe(new URL(value, ORIGIN).href);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses anything not starting with exactly one "/" followed by neither "/" nor "\\"', () => {
    fc.assert(
      fc.property(returnTo, (value) => {
        if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) expect(isSafeReturnTo(value)).toBe(false);
      }),
    );
  });
});

describe('locationHeaderValue (property)', () => {
  it('yields only characters a URI may hold as they are, and keeps those untouched', () => {
    const uriChars = /^[\x21\x23-\x3b\x3d\x3f-\x5d\x5f\x61-\x7a\x7e]*$/;
    fc.assert(
      fc.property(candidate, (value) => {
        const location = locationHeaderValue(value);
        expect(location).toMatch(uriChars);
        if (uriChars.test(value)) expect(location).toBe(value);
      }),
    );
  });

  it('percent-encodes as UTF-8: decoding gives back the well-formed input', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom(' ', 'é', '😀', '\u3002', '\t', '/', 'a'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 20 }), (value) => {
        fc.pre(!value.includes('%'));
        expect(decodeURIComponent(locationHeaderValue(value))).toBe(value);
      }),
    );
  });
});
