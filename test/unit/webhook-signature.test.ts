import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  WebhookSignatureError,
  assertWebhookSignature,
  signWebhookPayload,
  verifyWebhookSignature,
  type VerifyWebhookSignatureOptions,
} from '../../src/sdk/index.js';

const SECRET = 'whsec_5f2b1c0d9e8a7b6c';
const T = 1_700_000_000;
const PAYLOAD = JSON.stringify({
  id: 'evt_1',
  type: 'connection.created',
  created_at: '2023-11-14T22:13:20.000Z',
  data: { connection_id: 'c1', provider_name: 'github', user_id: 'u_1', app_id: null },
});

/** Computed here with node:crypto alone, as a receiver in another language would. */
function independentHex(payload: string | Buffer, secret: string, t: number | string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(Buffer.concat([Buffer.from(`${t}.`, 'utf8'), Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8')]))
    .digest('hex');
}

function verify(overrides: Partial<VerifyWebhookSignatureOptions>): boolean {
  return verifyWebhookSignature({ payload: PAYLOAD, header: signWebhookPayload(PAYLOAD, SECRET, T), secret: SECRET, now: T, ...overrides });
}

function failure(overrides: Partial<VerifyWebhookSignatureOptions>): string | undefined {
  try {
    assertWebhookSignature({ payload: PAYLOAD, header: signWebhookPayload(PAYLOAD, SECRET, T), secret: SECRET, now: T, ...overrides });
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookSignatureError);
    return (err as WebhookSignatureError).code;
  }
}

describe('signWebhookPayload', () => {
  it('produces t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    expect(signWebhookPayload(PAYLOAD, SECRET, T)).toBe(`t=${T},v1=${independentHex(PAYLOAD, SECRET, T)}`);
  });

  it('matches a fixed vector, computed with Python hmac (python/tests/test_signature.py checks the same one)', () => {
    expect(signWebhookPayload('{"id":"evt_1"}', 'whsec_test', 1700000000)).toBe(
      't=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925',
    );
  });

  it('signs bytes and the same text identically, non-ASCII included', () => {
    const text = '{"name":"Zoë ✓"}';
    expect(signWebhookPayload(Buffer.from(text, 'utf8'), SECRET, T)).toBe(signWebhookPayload(text, SECRET, T));
    expect(signWebhookPayload(new Uint8Array(Buffer.from(text, 'utf8')), SECRET, T)).toBe(signWebhookPayload(text, SECRET, T));
  });

  it('refuses an empty secret and a timestamp that is not whole seconds', () => {
    expect(() => signWebhookPayload(PAYLOAD, '', T)).toThrow(TypeError);
    expect(() => signWebhookPayload(PAYLOAD, SECRET, 1.5)).toThrow(TypeError);
    expect(() => signWebhookPayload(PAYLOAD, SECRET, Date.now() * 1e6)).toThrow(TypeError);
    expect(() => signWebhookPayload(PAYLOAD, SECRET, -1)).toThrow(TypeError);
  });
});

describe('verifyWebhookSignature', () => {
  it('accepts what signWebhookPayload signed, as a string or as the raw bytes', () => {
    expect(verify({})).toBe(true);
    expect(verify({ payload: Buffer.from(PAYLOAD, 'utf8') })).toBe(true);
    expect(failure({})).toBeUndefined();
  });

  it('uses the clock when now is not given', () => {
    const t = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature({ payload: PAYLOAD, header: signWebhookPayload(PAYLOAD, SECRET, t), secret: SECRET })).toBe(true);
    expect(verifyWebhookSignature({ payload: PAYLOAD, header: signWebhookPayload(PAYLOAD, SECRET, t - 3600), secret: SECRET })).toBe(false);
  });

  it('refuses a tampered body, even one that parses to the same JSON', () => {
    expect(verify({ payload: PAYLOAD.replace('u_1', 'u_2') })).toBe(false);
    expect(verify({ payload: JSON.stringify(JSON.parse(PAYLOAD), null, 2) })).toBe(false);
    expect(verify({ payload: `${PAYLOAD}\n` })).toBe(false);
    expect(failure({ payload: PAYLOAD.replace('u_1', 'u_2') })).toBe('signature_mismatch');
  });

  it('refuses the wrong secret', () => {
    expect(verify({ secret: 'whsec_other' })).toBe(false);
    expect(verify({ secret: SECRET.toUpperCase() })).toBe(false);
  });

  it('refuses a signature whose timestamp was changed', () => {
    const v1 = independentHex(PAYLOAD, SECRET, T);
    expect(verify({ header: `t=${T + 1},v1=${v1}` })).toBe(false);
    expect(verify({ header: `t=0${T},v1=${v1}` })).toBe(false);
  });

  it('refuses stale and future timestamps beyond the tolerance, either way', () => {
    expect(verify({ now: T + 300 })).toBe(true);
    expect(verify({ now: T - 300 })).toBe(true);
    expect(verify({ now: T + 301 })).toBe(false);
    expect(verify({ now: T - 301 })).toBe(false);
    expect(failure({ now: T + 301 })).toBe('timestamp_out_of_tolerance');
    expect(failure({ now: T - 3600 })).toBe('timestamp_out_of_tolerance');
    expect(verify({ now: T + 1000, toleranceSeconds: 1000 })).toBe(true);
    expect(verify({ now: T + 1, toleranceSeconds: 0 })).toBe(false);
    expect(verify({ now: T, toleranceSeconds: 0 })).toBe(true);
  });

  it('reports a stale delivery as stale, whatever its signature', () => {
    // A stale delivery with a wrong signature is reported as stale: no oracle on the signature.
    expect(failure({ header: `t=${T - 1000},v1=${'0'.repeat(64)}` })).toBe('timestamp_out_of_tolerance');
  });

  it('accepts any of several v1 values (secret rotation) and ignores other schemes', () => {
    const good = independentHex(PAYLOAD, SECRET, T);
    const other = independentHex(PAYLOAD, 'whsec_old', T);
    expect(verify({ header: `t=${T},v1=${other},v1=${good}` })).toBe(true);
    expect(verify({ header: `t=${T},v1=${good},v1=${other}` })).toBe(true);
    expect(verify({ header: `t=${T},v1=${other}`, secret: 'whsec_old' })).toBe(true);
    expect(verify({ header: `t=${T},v1=${other},v1=${other}` })).toBe(false);
    expect(verify({ header: `v0=abc, t=${T}, v1=${good.toUpperCase()}, v2=zzz` })).toBe(true);
  });

  it('refuses missing and malformed headers', () => {
    const good = independentHex(PAYLOAD, SECRET, T);
    expect(failure({ header: undefined })).toBe('missing_header');
    expect(failure({ header: '  ' })).toBe('missing_header');
    const malformed = [
      good,
      `v1=${good}`,
      `t=${T}`,
      `t=${T},v0=${good}`,
      `t=,v1=${good}`,
      `t=abc,v1=${good}`,
      `t=-${T},v1=${good}`,
      `t=${T}.5,v1=${good}`,
      `t=1e9,v1=${good}`,
      `t=\u0661\u0662,v1=${good}`,
      `t=${T},t=${T},v1=${good}`,
      `t=${T},v1=${good.slice(2)}`,
      `t=${T},v1=${good}00`,
      `t=${T},v1=${good.replace(/^../, 'zz')}`,
      `t=${T},v1=`,
      `t=${T},,v1=${good}`,
      `t=${T};v1=${good}`,
      `t=${T},=${good}`,
      `t=${'9'.repeat(400)},v1=${good}`,
    ];
    for (const header of malformed) {
      expect(verify({ header }), header).toBe(false);
      expect(failure({ header }), header).toBe('malformed_header');
    }
  });

  it('refuses configuration mistakes loudly rather than every delivery quietly', () => {
    expect(() => verify({ secret: '' })).toThrow(TypeError);
    expect(() => verify({ toleranceSeconds: -1 })).toThrow(TypeError);
    expect(() => verify({ toleranceSeconds: Number.NaN })).toThrow(TypeError);
    expect(() => verify({ now: Number.NaN })).toThrow(TypeError);
    expect(() => verify({ now: Number.NaN, header: undefined })).toThrow(TypeError);
  });
});
