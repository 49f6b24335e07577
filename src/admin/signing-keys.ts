import { SIGNING_ALGS, type SigningAlg } from '../config.js';
import { signingKeyPublishMs } from '../server/context.js';
import { AdminError, auditChange, iso, type AdminContext } from './context.js';

export interface SigningKeyView {
  kid: string;
  alg: string;
  status: 'signing' | 'retired';
  created_at: string;
  retired_at: string | null;
  /** Until when a retired key stays in the JWKS; null while it signs. */
  published_until: string | null;
}

export async function listSigningKeys(ctx: AdminContext): Promise<SigningKeyView[]> {
  const publishMs = signingKeyPublishMs(ctx.config);
  return (await ctx.store.signingKeys.list()).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    status: k.retiredAt === null ? 'signing' : 'retired',
    created_at: iso(k.createdAt)!,
    retired_at: iso(k.retiredAt),
    published_until: k.retiredAt === null ? null : iso(k.retiredAt + publishMs),
  }));
}

/**
 * Makes a new key the signing key. The old one stays published until every token it signed has
 * expired, so nothing in flight fails verification.
 */
export async function rotateSigningKeys(ctx: AdminContext, alg?: string): Promise<{ kid: string; alg: string }> {
  const current = (await ctx.store.signingKeys.list()).find((k) => k.retiredAt === null);
  const chosen = alg ?? current?.alg ?? ctx.config.signingAlg;
  if (!(SIGNING_ALGS as readonly string[]).includes(chosen)) throw new AdminError('invalid_request', `the algorithm must be one of ${SIGNING_ALGS.join(', ')}`);
  const key = await ctx.keys.rotate(chosen as SigningAlg, ctx.now());
  await auditChange(ctx, 'key.rotated', { detail: { kid: key.kid, alg: key.alg, previous_kid: current?.kid ?? null } });
  return { kid: key.kid, alg: key.alg };
}
