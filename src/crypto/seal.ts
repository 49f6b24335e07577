import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets at rest are sealed with AES-256-GCM under a master key. A sealed value is one string,
 * `v1.<kid>.<iv>.<ciphertext+tag>`, so the id of the key that sealed it is stored beside it and a
 * rotation can find and re-seal everything under older keys. The `context` (table and row) is bound
 * as additional data, so a sealed value copied into another row does not open.
 */
export interface MasterKey {
  kid: string;
  key: Buffer;
}

export class MasterKeyError extends Error {
  readonly code = 'invalid_master_key';
}

export class SealError extends Error {
  readonly code = 'unseal_failed';
}

const VERSION = 'v1';

function decodeKey(text: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new MasterKeyError('each master key must be 32 bytes, base64-encoded');
  return key;
}

/** A kid derived from the key itself, for a key given without one. */
function fingerprint(key: Buffer): string {
  return 'k' + createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export class MasterKeyRing {
  private readonly byKid: Map<string, MasterKey>;
  /** The newest key, which seals; the others only open. */
  readonly current: MasterKey;

  /** Parses `base64key` or `kid1:key1,kid2:key2` (oldest first; the last one seals). */
  static parse(text: string): MasterKeyRing {
    const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
    if (entries.length === 0) throw new MasterKeyError('the master key is empty');
    const keys = entries.map((entry): MasterKey => {
      const colon = entry.indexOf(':');
      if (colon === -1) {
        const key = decodeKey(entry);
        return { kid: fingerprint(key), key };
      }
      const kid = entry.slice(0, colon);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(kid)) throw new MasterKeyError('a master key id must be 1-32 letters, digits, _ or -');
      return { kid, key: decodeKey(entry.slice(colon + 1)) };
    });
    return new MasterKeyRing(keys);
  }

  static generateText(): string {
    return randomBytes(32).toString('base64');
  }

  constructor(keys: MasterKey[]) {
    this.byKid = new Map();
    for (const k of keys) {
      if (this.byKid.has(k.kid)) throw new MasterKeyError(`master key id "${k.kid}" appears twice`);
      this.byKid.set(k.kid, k);
    }
    this.current = keys[keys.length - 1]!;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.current.kid, iv.toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new SealError('not a sealed value');
    const [, kid, ivText, bodyText] = parts as [string, string, string, string];
    const key = this.byKid.get(kid);
    if (!key) throw new SealError(`sealed under master key "${kid}", which is not configured`);
    const body = Buffer.from(bodyText, 'base64url');
    if (body.length < 16) throw new SealError('sealed value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(ivText, 'base64url'));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
    } catch {
      throw new SealError('sealed value failed authentication');
    }
  }

  /** The kid a sealed value was sealed under. */
  static kidOf(sealed: string): string | undefined {
    return sealed.split('.')[1];
  }

  /** A subkey for one purpose (e.g. CSRF tokens), so the master key itself never signs anything. */
  subkey(purpose: string, key: MasterKey = this.current): Buffer {
    return Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), `latchkey ${purpose}`, 32));
  }

  mac(purpose: string, data: string, key: MasterKey = this.current): string {
    return createHmac('sha256', this.subkey(purpose, key)).update(data).digest('base64url');
  }

  /** The MAC under every key of the ring, newest first: what `mac` gave before a rotation is among them. */
  macsUnderEveryKey(purpose: string, data: string): string[] {
    return [...this.byKid.values()].reverse().map((key) => this.mac(purpose, data, key));
  }
}
