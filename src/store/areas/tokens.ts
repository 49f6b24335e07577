import type { Transaction } from 'kysely';
import type { AuthorizationCodeRecord, GrantRecord, Redemption, RefreshTokenRecord } from '../records.js';
import type { Database } from '../schema.js';
import type { AccessTokenState, TokenIssue, TokenStore } from '../store.js';
import { atomic, list, type Db, type Row } from './db.js';

/** Columns that pick the grants to revoke; all given ones must match. */
type GrantMatch = Partial<Pick<Row<'grants'>, 'id' | 'user_id' | 'client_id' | 'resource'>>;

const toGrant = (r: Row<'grants'>): GrantRecord => ({
  id: r.id,
  clientId: r.client_id,
  userId: r.user_id,
  scopes: list(r.scopes),
  resource: r.resource,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

const toCode = (r: Row<'authorization_codes'>): AuthorizationCodeRecord => ({
  codeHash: r.code_hash,
  grantId: r.grant_id,
  clientId: r.client_id,
  userId: r.user_id,
  redirectUri: r.redirect_uri,
  scopes: list(r.scopes),
  resource: r.resource,
  codeChallenge: r.code_challenge,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
});

const toRefreshToken = (r: Row<'refresh_tokens'>): RefreshTokenRecord => ({
  tokenHash: r.token_hash,
  grantId: r.grant_id,
  clientId: r.client_id,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
  reissueSealed: r.reissue_sealed,
});

/**
 * Revokes every grant matching all of `match`: marks it revoked (keeping an earlier revocation
 * time) and deletes its refresh tokens, so its access tokens are refused and nothing refreshes.
 */
export async function revokeGrants(tx: Transaction<Database>, match: GrantMatch, now: number): Promise<void> {
  const grantIds = tx.selectFrom('grants').select('id').where((eb) => eb.and(match));
  await tx.deleteFrom('refresh_tokens').where('grant_id', 'in', grantIds).execute();
  await tx.updateTable('grants').set({ revoked_at: now }).where((eb) => eb.and(match)).where('revoked_at', 'is', null).execute();
}

/**
 * Atomic consumption is `UPDATE … WHERE consumed_at IS NULL RETURNING`, which on PostgreSQL takes a
 * row lock (a concurrent caller waits, re-checks the condition and finds nothing) and on SQLite runs
 * under the database's single write lock.
 */
export class KyselyTokenStore implements TokenStore {
  constructor(private readonly db: Db) {}

  async insertCode(c: AuthorizationCodeRecord): Promise<void> {
    await this.db
      .insertInto('authorization_codes')
      .values({
        code_hash: c.codeHash,
        grant_id: c.grantId,
        client_id: c.clientId,
        user_id: c.userId,
        redirect_uri: c.redirectUri,
        scopes: JSON.stringify(c.scopes),
        resource: c.resource,
        code_challenge: c.codeChallenge,
        created_at: c.createdAt,
        expires_at: c.expiresAt,
        consumed_at: c.consumedAt,
      })
      .execute();
  }

  async findCode(codeHash: string): Promise<AuthorizationCodeRecord | undefined> {
    const row = await this.db.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
    return row && toCode(row);
  }

  private async storeIssue(tx: Db, issue: TokenIssue): Promise<void> {
    if (issue.refreshToken) {
      const r = issue.refreshToken;
      await tx
        .insertInto('refresh_tokens')
        .values({
          token_hash: r.tokenHash,
          grant_id: r.grantId,
          client_id: r.clientId,
          created_at: r.createdAt,
          expires_at: r.expiresAt,
          consumed_at: null,
          reissue_sealed: r.reissueSealed,
        })
        .execute();
    }
    const a = issue.accessToken;
    await tx.insertInto('access_tokens').values({ jti: a.jti, grant_id: a.grantId, client_id: a.clientId, expires_at: a.expiresAt, revoked_at: null }).execute();
  }

  async redeemCode(codeHash: string, now: number, grant: GrantRecord, issue: TokenIssue): Promise<Redemption<AuthorizationCodeRecord>> {
    return atomic(this.db, async (tx) => {
      const won = await tx
        .updateTable('authorization_codes')
        .set({ consumed_at: now })
        .where('code_hash', '=', codeHash)
        .where('consumed_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!won) {
        const row = await tx.selectFrom('authorization_codes').selectAll().where('code_hash', '=', codeHash).executeTakeFirst();
        return row ? { outcome: 'already_consumed', record: toCode(row) } : { outcome: 'not_found' };
      }
      await tx
        .insertInto('grants')
        .values({
          id: grant.id,
          client_id: grant.clientId,
          user_id: grant.userId,
          scopes: JSON.stringify(grant.scopes),
          resource: grant.resource,
          created_at: grant.createdAt,
          expires_at: grant.expiresAt,
          revoked_at: null,
        })
        .execute();
      await this.storeIssue(tx, issue);
      return { outcome: 'redeemed', record: toCode(won) };
    });
  }

  async findRefreshToken(tokenHash: string): Promise<{ token: RefreshTokenRecord; grant: GrantRecord } | undefined> {
    const token = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!token) return undefined;
    const grant = await this.db.selectFrom('grants').selectAll().where('id', '=', token.grant_id).executeTakeFirst();
    return grant && { token: toRefreshToken(token), grant: toGrant(grant) };
  }

  async rotateRefreshToken(tokenHash: string, now: number, issue: TokenIssue): Promise<Redemption<RefreshTokenRecord>> {
    return atomic(this.db, async (tx) => {
      const won = await tx
        .updateTable('refresh_tokens')
        .set({ consumed_at: now })
        .where('token_hash', '=', tokenHash)
        .where('consumed_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!won) {
        const row = await tx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
        return row ? { outcome: 'already_consumed', record: toRefreshToken(row) } : { outcome: 'not_found' };
      }
      // Extends the grant's life with its newest refresh token, so cleanup keeps it while it is in use.
      await tx
        .updateTable('grants')
        .set({ expires_at: issue.refreshToken?.expiresAt ?? now })
        .where('id', '=', won.grant_id)
        .where('expires_at', '<', issue.refreshToken?.expiresAt ?? now)
        .execute();
      await this.storeIssue(tx, issue);
      return { outcome: 'redeemed', record: toRefreshToken(won) };
    });
  }

  async getGrant(id: string): Promise<GrantRecord | undefined> {
    const row = await this.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toGrant(row);
  }

  async revokeGrant(id: string, now: number): Promise<void> {
    await atomic(this.db, (tx) => revokeGrants(tx, { id }, now));
  }

  async revokeUserClient(userId: string, clientId: string, now: number): Promise<void> {
    await atomic(this.db, async (tx) => {
      await revokeGrants(tx, { user_id: userId, client_id: clientId }, now);
      await tx.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).execute();
    });
  }

  async revokeAccessToken(t: { jti: string; grantId: string | null; clientId: string; expiresAt: number }, now: number): Promise<void> {
    await this.db
      .insertInto('access_tokens')
      .values({ jti: t.jti, grant_id: t.grantId, client_id: t.clientId, expires_at: t.expiresAt, revoked_at: now })
      .onConflict((oc) => oc.column('jti').doUpdateSet({ revoked_at: now }))
      .execute();
  }

  async accessTokenState(jti: string): Promise<AccessTokenState> {
    const row = await this.db
      .selectFrom('access_tokens as a')
      .leftJoin('grants as g', 'g.id', 'a.grant_id')
      .select(['a.revoked_at as tokenRevokedAt', 'a.grant_id as grantId', 'g.revoked_at as grantRevokedAt', 'g.id as grantFound'])
      .where('a.jti', '=', jti)
      .executeTakeFirst();
    if (!row) return { revoked: false };
    const grantGone = row.grantId !== null && (row.grantFound === null || row.grantRevokedAt !== null);
    return { revoked: row.tokenRevokedAt !== null || grantGone };
  }
}
