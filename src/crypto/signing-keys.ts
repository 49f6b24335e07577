import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { SigningAlg } from '../config.js';
import type { SigningKeyRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { sealContext as sealContextOf } from '../store/sealed-columns.js';
import type { MasterKeyRing } from './seal.js';

export interface PublicJwk extends JWK {
  kid: string;
  alg: string;
  use: 'sig';
}

type PrivateKey = Awaited<ReturnType<typeof importJWK>>;

interface ActiveKey {
  kid: string;
  alg: string;
  key: PrivateKey;
}

const sealContext = (kid: string) => sealContextOf('signing_keys.private_sealed', kid);

/** Creates a key pair of `alg`; its kid is the RFC 7638 thumbprint of the public key. */
export async function generateSigningKey(alg: SigningAlg, masterKeys: MasterKeyRing, now: number): Promise<SigningKeyRecord> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    publicJwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
    privateSealed: masterKeys.seal(JSON.stringify(privateJwk), sealContext(kid)),
    createdAt: now,
    retiredAt: null,
  };
}

/**
 * The signing keys of this instance, read from the store and reloaded every few seconds so that a
 * rotation made by the CLI or another process is picked up without a restart. One key signs; retired
 * keys stay in the JWKS for `publishRetiredMs` so tokens they signed keep verifying until they expire.
 */
export class SigningKeys {
  private active: ActiveKey | undefined;
  private published: PublicJwk[] = [];
  private localJwks: ReturnType<typeof createLocalJWKSet> | undefined;
  private fingerprint = '';

  constructor(
    private readonly store: Store,
    private readonly masterKeys: MasterKeyRing,
    private readonly publishRetiredMs: number,
  ) {}

  /** Makes sure a key of `alg` signs: creates the first key, or rotates when the algorithm changed. */
  async ensure(alg: SigningAlg, now: number): Promise<void> {
    let current = (await this.store.signingKeys.list()).find((k) => k.retiredAt === null);
    if (!current) {
      await this.store.signingKeys.insertFirst(await generateSigningKey(alg, this.masterKeys, now));
      current = (await this.store.signingKeys.list()).find((k) => k.retiredAt === null);
    }
    if (current && current.alg !== alg) {
      // Workers starting together must not rotate twice: one takes the lease, the rest reload.
      const lease = await this.store.locks.acquire('signing-keys:rotate', `ensure:${process.pid}:${now}`, 30_000);
      if (lease) {
        try {
          const again = (await this.store.signingKeys.list()).find((k) => k.retiredAt === null);
          if (again?.alg !== alg) await this.store.signingKeys.rotate(await generateSigningKey(alg, this.masterKeys, now), now);
        } finally {
          await this.store.locks.release(lease);
        }
      }
    }
    await this.reload(now);
  }

  async rotate(alg: SigningAlg, now: number): Promise<SigningKeyRecord> {
    const key = await generateSigningKey(alg, this.masterKeys, now);
    await this.store.signingKeys.rotate(key, now);
    await this.reload(now);
    return key;
  }

  async reload(now: number): Promise<void> {
    const records = await this.store.signingKeys.list();
    const live = records.filter((k) => k.retiredAt === null || k.retiredAt + this.publishRetiredMs > now);
    const fingerprint = live.map((k) => `${k.kid}:${k.retiredAt ?? ''}`).join(',');
    if (fingerprint === this.fingerprint) return;
    const current = records.filter((k) => k.retiredAt === null).at(-1);
    if (current) {
      const jwk = JSON.parse(this.masterKeys.open(current.privateSealed, sealContext(current.kid))) as JWK;
      this.active = { kid: current.kid, alg: current.alg, key: await importJWK(jwk, current.alg) };
    }
    // The signing key first, so clients that take the first key find the one in use.
    this.published = live
      .sort((a, b) => (a.retiredAt === null ? -1 : b.retiredAt === null ? 1 : b.createdAt - a.createdAt))
      .map((k) => JSON.parse(k.publicJwk) as PublicJwk);
    this.localJwks = createLocalJWKSet({ keys: this.published });
    this.fingerprint = fingerprint;
  }

  jwks(): { keys: PublicJwk[] } {
    return { keys: this.published };
  }

  get signingAlg(): string | undefined {
    return this.active?.alg;
  }

  /** Signs an RFC 9068 access token with the current key. */
  async signAccessToken(claims: JWTPayload): Promise<string> {
    const active = this.active;
    if (!active) throw new Error('no signing key is loaded');
    return new SignJWT(claims).setProtectedHeader({ alg: active.alg, kid: active.kid, typ: 'at+jwt' }).sign(active.key);
  }

  /**
   * Verifies an access token this instance issued (signature with any published key, `typ`, `iss`,
   * expiry). Returns undefined for anything else, expired or not ours.
   */
  async verifyAccessToken(token: string, issuer: string, now: number): Promise<JWTPayload | undefined> {
    if (!this.localJwks) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.localJwks, { issuer, typ: 'at+jwt', algorithms: ['RS256', 'ES256', 'EdDSA'], currentDate: new Date(now) });
      return payload;
    } catch {
      return undefined;
    }
  }
}
