import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertWebhookSignature, signWebhookPayload, verifyWebhookSignature, WebhookSignatureError } from '../../src/sdk/index.js';

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const payload = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.uint8Array({ maxLength: 60 }));
const secret = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 });
/** Realistic unix seconds: 0 to year 2100. */
const timestamp = fc.integer({ min: 0, max: 4_102_444_800 });
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

const bytes = (p: string | Uint8Array): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));

describe('webhook signatures (property)', () => {
  it('a signed payload verifies, for any payload, secret and timestamp, within the tolerance', () => {
    fc.assert(
      fc.property(payload, secret, timestamp, fc.integer({ min: -300, max: 300 }), (p, s, t, skew) => {
        const header = signWebhookPayload(p, s, t);
        expect(verifyWebhookSignature({ payload: p, header, secret: s, now: t + skew })).toBe(true);
      }),
    );
  });

  it('any other payload, another secret, or a time outside the tolerance is refused', () => {
    fc.assert(
      fc.property(payload, payload, secret, secret, timestamp, fc.integer({ min: 301, max: 10_000_000 }), (p, other, s, otherSecret, t, late) => {
        const header = signWebhookPayload(p, s, t);
        if (!bytes(p).equals(bytes(other))) expect(verifyWebhookSignature({ payload: other, header, secret: s, now: t })).toBe(false);
        if (otherSecret !== s) expect(verifyWebhookSignature({ payload: p, header, secret: otherSecret, now: t })).toBe(false);
        expect(verifyWebhookSignature({ payload: p, header, secret: s, now: t + late })).toBe(false);
        expect(verifyWebhookSignature({ payload: p, header, secret: s, now: t - late })).toBe(false);
      }),
    );
  });

  it('verifies when the right v1 is among rotated, unknown-scheme and padded parts, in any order', () => {
    const extra = fc.array(
      fc.oneof(
        hex64.map((h) => `v1=${h}`),
        fc.stringMatching(/^v[02-9]=[A-Za-z0-9]{0,10}$/),
        fc.stringMatching(/^[a-su-uw-z][a-z0-9]{0,4}=[A-Za-z0-9]{0,10}$/),
      ),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(payload, secret, timestamp, extra, fc.nat(), fc.constantFrom('', ' ', '  '), (p, s, t, others, at, pad) => {
        const [tPart, v1Part] = signWebhookPayload(p, s, t).split(',') as [string, string];
        const parts = [...others];
        parts.splice(at % (parts.length + 1), 0, v1Part.toUpperCase().replace('V1=', 'v1='));
        parts.splice((at >> 3) % (parts.length + 1), 0, tPart);
        const header = parts.map((part) => `${pad}${part}${pad}`).join(',');
        expect(verifyWebhookSignature({ payload: p, header, secret: s, now: t }), header).toBe(true);
      }),
    );
  });

  it('never throws on an arbitrary header, and fails with one of the documented codes', () => {
    const header = fc.oneof(
      fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom('t=', 'v1=', ',', '=', ' ', '1700000000')), maxLength: 80 }),
      fc.tuple(fc.stringMatching(/^\d{0,17}$/), fc.array(fc.stringMatching(/^[0-9a-fA-Fg]{62,66}$/), { maxLength: 2 })).map(([t, vs]) => [`t=${t}`, ...vs.map((v) => `v1=${v}`)].join(',')),
      fc.constant(undefined),
    );
    fc.assert(
      fc.property(payload, secret, header, (p, s, h) => {
        expect(verifyWebhookSignature({ payload: p, header: h, secret: s, now: 1_700_000_000 })).toBe(false);
        try {
          assertWebhookSignature({ payload: p, header: h, secret: s, now: 1_700_000_000 });
          expect.unreachable('an arbitrary header must not verify');
        } catch (err) {
          expect(err).toBeInstanceOf(WebhookSignatureError);
          expect(['missing_header', 'malformed_header', 'timestamp_out_of_tolerance', 'signature_mismatch']).toContain((err as WebhookSignatureError).code);
        }
      }),
    );
  });

  it('a timestamp other than the one signed (leading zeros included) is refused', () => {
    fc.assert(
      fc.property(payload, secret, timestamp, fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(0)), fc.integer({ min: 1, max: 3 }), (p, s, t, delta, zeros) => {
        const v1 = signWebhookPayload(p, s, t).split(',')[1]!;
        const moved = delta === 0 ? `${'0'.repeat(zeros)}${t}` : String(t + delta);
        expect(verifyWebhookSignature({ payload: p, header: `t=${moved},${v1}`, secret: s, now: t })).toBe(false);
      }),
    );
  });
});
