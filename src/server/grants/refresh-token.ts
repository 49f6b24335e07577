import { InvalidGrant, InvalidTarget } from '../../core/errors.js';
import type { Params } from '../../core/params.js';
import { requireParam } from '../../core/params.js';
import { narrowScopes, parseScopeParam } from '../../core/scopes.js';
import { SECRET_PREFIX, hashSecret } from '../../crypto/secrets.js';
import type { ClientRecord, GrantRecord, RefreshTokenRecord } from '../../store/records.js';
import { sealContext } from '../../store/sealed-columns.js';
import { recordAudit } from '../audit.js';
import type { ServerContext } from '../context.js';
import { prepareTokens, type TokenResponse } from '../issue.js';
import { resolveApi } from '../resource.js';

const INVALID = 'the refresh token is invalid, expired or revoked';

/** What a retry within the grace window gets back beside the successor refresh token. */
interface Reissue {
  access_token: string;
  scope: string;
  expires_at: number;
}

/**
 * The refresh token that replaces `presented`: an HMAC of it under a key derived from the master
 * key. A retry of the same token can so be given the same successor without the successor ever
 * being stored in a form that could be read back (only its hash is), and no one without the master
 * key can compute it.
 */
const successorOf = (ctx: ServerContext, presented: string): string => SECRET_PREFIX.refreshToken + ctx.masterKeys.mac('refresh-successor', presented);

/** Every successor `presented` may have been given: under each master key, so a key rotation in between does not look like reuse. */
const possibleSuccessors = (ctx: ServerContext, presented: string): string[] =>
  ctx.masterKeys.macsUnderEveryKey('refresh-successor', presented).map((mac) => SECRET_PREFIX.refreshToken + mac);

/** A refresh token that is unknown, expired, revoked or another client's. */
function invalid(ctx: ServerContext): InvalidGrant {
  ctx.metrics.refreshFailures.inc({ reason: 'invalid' });
  return new InvalidGrant(INVALID);
}

/**
 * RFC 6749 §6 with rotation (RFC 9700 §4.14.2): every use returns a new refresh token and consumes
 * the old one. Presenting a consumed token means two parties hold the family, so the whole grant is
 * revoked, except within the configured reuse grace window, where a client retrying after a lost
 * answer (or two tabs refreshing at once) is given the same new pair, as long as that new refresh
 * token has not been used itself. The new token keeps the grant's full scope even when the access
 * token is narrowed (§6).
 */
export async function refreshTokenGrant(ctx: ServerContext, client: ClientRecord, params: Params, resources: string[], ip: string): Promise<TokenResponse> {
  const now = ctx.now();
  const presented = requireParam(params, 'refresh_token');
  const tokenHash = hashSecret(presented);
  const found = await ctx.store.tokens.findRefreshToken(tokenHash);
  if (!found || found.token.clientId !== client.id) throw invalid(ctx);
  const { token, grant } = found;
  if (grant.revokedAt !== null || token.expiresAt <= now) throw invalid(ctx);
  if (token.consumedAt !== null) return retryOrRevoke(ctx, presented, token.consumedAt, grant, ip, now);
  if (resources.length > 0 || params.has('audience')) {
    const api = await resolveApi(ctx, resources, params.get('audience'));
    if (api.identifier !== grant.resource) throw new InvalidTarget('the refresh token was issued for another resource');
  }
  const scopes = narrowScopes(parseScopeParam(params.get('scope')), grant.scopes);
  if (grant.userId !== null && !(await ctx.store.users.get(grant.userId))) throw invalid(ctx);

  const successor = successorOf(ctx, presented);
  const { response, issue } = await prepareTokens(
    ctx,
    { client, subject: grant.userId ?? client.id, audience: grant.resource, scopes, grantId: grant.id, withRefreshToken: true, refreshToken: successor },
    now,
  );
  const successorRecord = issue!.refreshToken!;
  if (ctx.config.refreshReuseGraceSeconds > 0) {
    const reissue: Reissue = { access_token: response.access_token, scope: response.scope, expires_at: now + response.expires_in * 1000 };
    successorRecord.reissueSealed = ctx.masterKeys.seal(JSON.stringify(reissue), sealContext('refresh_tokens.reissue_sealed', successorRecord.tokenHash));
  }
  const result = await ctx.store.tokens.rotateRefreshToken(tokenHash, now, issue!);
  if (result.outcome === 'already_consumed') return retryOrRevoke(ctx, presented, result.record.consumedAt ?? now, grant, ip, now);
  if (result.outcome !== 'redeemed') throw invalid(ctx);
  return response;
}

/** A consumed token presented again: the same answer within the grace window, else the family is revoked. */
async function retryOrRevoke(ctx: ServerContext, presented: string, consumedAt: number, grant: GrantRecord, ip: string, now: number): Promise<TokenResponse> {
  const graceMs = ctx.config.refreshReuseGraceSeconds * 1000;
  if (graceMs > 0 && now - consumedAt <= graceMs) {
    const again = await sameAnswer(ctx, presented, grant, now);
    if (again) {
      ctx.logger.debug({ grantId: grant.id }, 'refresh retried within the grace window; same tokens returned');
      return again;
    }
  }
  await ctx.store.tokens.revokeGrant(grant.id, now);
  ctx.metrics.refreshFailures.inc({ reason: 'reuse_detected' });
  await recordAudit(ctx, 'refresh.reuse_detected', { actor: `client:${grant.clientId}`, ip }, {
    clientId: grant.clientId,
    userId: grant.userId,
    detail: { grant_id: grant.id, seconds_since_use: Math.round((now - consumedAt) / 1000) },
  });
  throw new InvalidGrant('the refresh token was already used; every token of its grant is revoked');
}

/** The answer the first use of `presented` got, while its successor is unused and still holds it. */
async function sameAnswer(ctx: ServerContext, presented: string, grant: GrantRecord, now: number): Promise<TokenResponse | undefined> {
  for (const successor of possibleSuccessors(ctx, presented)) {
    const found = await ctx.store.tokens.findRefreshToken(hashSecret(successor));
    if (found) return found.grant.id === grant.id ? reissued(ctx, successor, found.token, now) : undefined;
  }
  return undefined;
}

function reissued(ctx: ServerContext, successor: string, found: RefreshTokenRecord, now: number): TokenResponse | undefined {
  if (found.consumedAt !== null || found.reissueSealed === null) return undefined;
  const reissue = JSON.parse(ctx.masterKeys.open(found.reissueSealed, sealContext('refresh_tokens.reissue_sealed', found.tokenHash))) as Reissue;
  return {
    access_token: reissue.access_token,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((reissue.expires_at - now) / 1000)),
    scope: reissue.scope,
    refresh_token: successor,
  };
}
