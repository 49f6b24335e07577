import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBasicCredentials } from '../../src/core/basic-auth.js';

/** RFC 6749 §2.3.1 / Appendix B: form-urlencode, as a conforming client does before joining with ':'. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Well-formed Unicode biased towards the characters the encoding must survive. */
const credentialChar = fc.oneof(
  fc.constantFrom(':', '%', '+', ' ', '=', '/', '&', '%3A', '%2B', '~', '*'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\0'),
);
const credential = fc.string({ unit: credentialChar, minLength: 1, maxLength: 20 });
const scheme = fc.constantFrom('Basic', 'basic', 'BASIC', 'bAsIc');
const spaces = (min: number) => fc.integer({ min, max: 3 }).map((n) => ' '.repeat(n));

describe('parseBasicCredentials (property)', () => {
  it('decodes what a client encodes per RFC 6749 §2.3.1, for any non-empty unicode id and secret', () => {
    fc.assert(
      fc.property(credential, credential, scheme, spaces(1), spaces(0), (id, secret, name, before, after) => {
        const token = Buffer.from(`${formEncode(id)}:${formEncode(secret)}`, 'utf8').toString('base64');
        expect(parseBasicCredentials(`${name}${before}${token}${after}`)).toEqual({ clientId: id, clientSecret: secret });
      }),
    );
  });

  it('refuses an id or secret holding a NUL, which no client has and the store could not look up', () => {
    fc.assert(
      fc.property(credential, credential, fc.boolean(), (id, secret, inId) => {
        const [withNul, other] = inId ? [`${id}\0`, secret] : [secret, `\0${id}`];
        const pair = inId ? `${formEncode(withNul)}:${formEncode(other)}` : `${formEncode(other)}:${formEncode(withNul)}`;
        expect(parseBasicCredentials(`Basic ${Buffer.from(pair, 'utf8').toString('base64')}`)).toBeUndefined();
      }),
    );
  });

  it('never throws on arbitrary header text, and never yields an empty id or secret', () => {
    const header = fc.oneof(
      fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom('Basic ', ':', '=', '%', '+')), maxLength: 60 }),
      fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=._~- '), maxLength: 40 }).map((t) => `Basic ${t}`),
    );
    fc.assert(
      fc.property(header, (value) => {
        const result = parseBasicCredentials(value);
        if (result !== undefined) {
          expect(result.clientId).not.toBe('');
          expect(result.clientSecret).not.toBe('');
        }
      }),
    );
  });

  it('never throws on arbitrary decoded bytes (invalid UTF-8, malformed escapes)', () => {
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom(':', '%', '%E0', '%zz', '%ED%A0%80', '+')), maxLength: 30 }).map((s) => Buffer.from(s, 'utf8')),
    );
    fc.assert(
      fc.property(raw, (bytes) => {
        const result = parseBasicCredentials(`Basic ${bytes.toString('base64')}`);
        if (result !== undefined) {
          expect(result.clientId).not.toBe('');
          expect(result.clientSecret).not.toBe('');
        }
      }),
    );
  });

  it('refuses any other scheme', () => {
    const other = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzBEARER'), minLength: 1, maxLength: 8 }).filter((s) => s.toLowerCase() !== 'basic');
    fc.assert(
      fc.property(other, credential, credential, (name, id, secret) => {
        const token = Buffer.from(`${formEncode(id)}:${formEncode(secret)}`, 'utf8').toString('base64');
        expect(parseBasicCredentials(`${name} ${token}`)).toBeUndefined();
      }),
    );
  });
});
