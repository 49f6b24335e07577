import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `Latchkey-Signature` header of webhook deliveries: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `"<t>.<raw body>"`, keyed with the webhook secret's UTF-8 bytes (the secret string as shown once at
 * creation, not decoded). The broker signs with `signWebhookPayload`, receivers check with
 * `verifyWebhookSignature`, so both sides share one definition. Only `node:crypto` is imported here.
 */

export const WEBHOOK_SIGNATURE_HEADER = 'Latchkey-Signature';
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

export type WebhookSignatureFailure = 'missing_header' | 'malformed_header' | 'timestamp_out_of_tolerance' | 'signature_mismatch';

export interface VerifyWebhookSignatureOptions {
  /** The request body exactly as received: parsing and re-serialising JSON changes the bytes. */
  payload: string | Uint8Array;
  /** The `Latchkey-Signature` header value. */
  header: string | undefined;
  secret: string;
  /** How far `t` may be from `now`, either way; defaults to 300. Bounds how long a captured delivery can be replayed. */
  toleranceSeconds?: number;
  /** The current time in unix seconds; defaults to the clock. */
  now?: number;
}

export class WebhookSignatureError extends Error {
  constructor(
    readonly code: WebhookSignatureFailure,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}

/** The header value for a delivery of `payload` signed at `timestampSeconds`. */
export function signWebhookPayload(payload: string | Uint8Array, secret: string, timestampSeconds: number): string {
  checkSecret(secret);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new TypeError('timestampSeconds must be a non-negative integer number of seconds');
  }
  return `t=${timestampSeconds},v1=${signature(secret, String(timestampSeconds), payload).toString('hex')}`;
}

/** True when the header carries a valid, fresh signature of `payload`; false for anything else. */
export function verifyWebhookSignature(options: VerifyWebhookSignatureOptions): boolean {
  return checkSignature(options) === undefined;
}

/** Like `verifyWebhookSignature`, but throws a `WebhookSignatureError` saying why, for receivers that log it. */
export function assertWebhookSignature(options: VerifyWebhookSignatureOptions): void {
  const failure = checkSignature(options);
  if (failure !== undefined) throw new WebhookSignatureError(failure, FAILURE_MESSAGES[failure]);
}

const FAILURE_MESSAGES: Record<WebhookSignatureFailure, string> = {
  missing_header: `the ${WEBHOOK_SIGNATURE_HEADER} header is missing`,
  malformed_header: `the ${WEBHOOK_SIGNATURE_HEADER} header is malformed`,
  timestamp_out_of_tolerance: 'the webhook signature timestamp is outside the tolerance',
  signature_mismatch: 'no webhook signature matches the payload',
};

const TIMESTAMP = /^\d{1,15}$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function checkSignature(options: VerifyWebhookSignatureOptions): WebhookSignatureFailure | undefined {
  const { payload, header, secret, toleranceSeconds = DEFAULT_WEBHOOK_TOLERANCE_SECONDS } = options;
  checkSecret(secret);
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) throw new TypeError('toleranceSeconds must be a non-negative number');
  const now = options.now ?? Math.floor(Date.now() / 1000);
  // Checked because a NaN would make the tolerance comparison below pass for any timestamp.
  if (!Number.isFinite(now)) throw new TypeError('now must be a finite number of unix seconds');
  if (header === undefined || header.trim() === '') return 'missing_header';
  const parsed = parseHeader(header);
  if (parsed === undefined) return 'malformed_header';
  if (Math.abs(now - Number(parsed.timestamp)) > toleranceSeconds) return 'timestamp_out_of_tolerance';
  // Signed over the timestamp as sent, so `t=0100` cannot pass for `t=100`.
  const expected = signature(secret, parsed.timestamp, payload);
  // Compare every candidate, without stopping at a match, so timing says nothing about which one matched.
  let matched = false;
  for (const candidate of parsed.signatures) matched = timingSafeEqual(Buffer.from(candidate, 'hex'), expected) || matched;
  return matched ? undefined : 'signature_mismatch';
}

/**
 * `t` exactly once; one or more `v1` (several while a secret is rotated); other schemes are ignored so
 * a later `v2` does not break today's receivers. A `v1` that is not 64 hex digits makes it malformed.
 */
function parseHeader(header: string): { timestamp: string; signatures: string[] } | undefined {
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined || !TIMESTAMP.test(value)) return undefined;
      timestamp = value;
    } else if (key === 'v1') {
      if (!SHA256_HEX.test(value)) return undefined;
      signatures.push(value);
    }
  }
  return timestamp === undefined || signatures.length === 0 ? undefined : { timestamp, signatures };
}

function signature(secret: string, timestamp: string, payload: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest();
}

function checkSecret(secret: string): void {
  // An empty secret is a missing configuration value, not a key: say so instead of refusing every delivery.
  if (typeof secret !== 'string' || secret === '') throw new TypeError('the webhook secret must be a non-empty string');
}
