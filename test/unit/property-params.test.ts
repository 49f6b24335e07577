import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequest, OAuthError } from '../../src/core/errors.js';
import { parseParams, rejectDuplicates } from '../../src/core/params.js';

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Well-formed Unicode: any code point, no lone surrogates. */
const text = (maxLength = 12) => fc.string({ unit: 'binary', maxLength });
/** Characters that matter to the form grammar, mixed with arbitrary ones. */
const formChar = fc.oneof(fc.constantFrom('&', '=', '+', '%', '%2', '%zz', '%26', '%3D', '%E0', '%ED%A0%80', ' ', '?', ';', '#'), codeUnit, text(1));
const hostileForm = fc.string({ unit: formChar, maxLength: 40 });
/** Parameter names: mostly real OAuth names, so that repeats are frequent, plus arbitrary ones. */
const paramName = fc.oneof(fc.constantFrom('client_id', 'scope', 'state', 'resource', 'redirect_uri', 'code'), text(6));
const paramValue = fc.oneof(fc.constant(''), text());

function formEncode(pairs: readonly (readonly [string, string])[]): string {
  return new URLSearchParams(pairs.map(([k, v]) => [k, v])).toString();
}

describe('parseParams (property)', () => {
  it('round-trips any map of unicode names to non-empty values', () => {
    const entries = fc.uniqueArray(fc.tuple(text(), text().filter((v) => v !== '')), { selector: ([k]) => k, maxLength: 8 }).map((es) => es.filter(([k]) => k !== 'resource'));
    fc.assert(
      fc.property(entries, (pairs) => {
        const parsed = parseParams(formEncode(pairs));
        expect(parsed.single).toEqual(new Map(pairs));
        expect(parsed.duplicates).toEqual([]);
        expect(parsed.repeated.size).toBe(0);
      }),
    );
  });

  it('reports every repeated name in duplicates (and only those), keeps resource values in order, treats empty as absent', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(paramName, paramValue), { maxLength: 12 }), (pairs) => {
        const present = pairs.filter(([, v]) => v !== '');
        const counts = new Map<string, number>();
        for (const [k] of present) if (k !== 'resource') counts.set(k, (counts.get(k) ?? 0) + 1);
        const expectedDuplicates = [...counts].filter(([, n]) => n > 1).map(([k]) => k);

        const parsed = parseParams(formEncode(pairs));
        expect([...parsed.duplicates].sort()).toEqual([...expectedDuplicates].sort());
        expect([...parsed.single.keys()].sort()).toEqual([...counts.keys()].sort());
        const resources = present.filter(([k]) => k === 'resource').map(([, v]) => v);
        expect(parsed.repeated.get('resource') ?? []).toEqual(resources);

        // Never silently merged: a repeat is refused, naming a repeated parameter.
        if (expectedDuplicates.length > 0) {
          expect(() => rejectDuplicates(parsed)).toThrow(InvalidRequest);
        } else {
          expect(rejectDuplicates(parsed)).toBe(parsed.single);
        }
      }),
    );
  });

  it('never throws on arbitrary text (malformed escapes, lone surrogates) and keeps its invariants', () => {
    fc.assert(
      fc.property(hostileForm, (encoded) => {
        const parsed = parseParams(encoded);
        for (const [name, value] of parsed.single) {
          expect(value).not.toBe('');
          expect(name).not.toBe('resource');
        }
        for (const name of parsed.duplicates) expect(parsed.single.has(name)).toBe(true);
        expect(new Set(parsed.duplicates).size).toBe(parsed.duplicates.length);
        for (const [name, values] of parsed.repeated) {
          expect(name).toBe('resource');
          expect(values.length).toBeGreaterThan(0);
          expect(values).not.toContain('');
        }
        // rejectDuplicates throws the documented error only, with an RFC 6749 §5.2 description.
        try {
          rejectDuplicates(parsed);
          expect(parsed.duplicates).toEqual([]);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidRequest);
          expect((err as OAuthError).toJSON().error_description).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/);
        }
      }),
    );
  });
});
