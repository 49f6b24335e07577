import type { OAuthStateRecord } from '../records.js';
import type { OAuthStateStore } from '../broker-store.js';
import { record, type Db, type Row } from './db.js';

const toState = (r: Row<'oauth_states'>): OAuthStateRecord => ({
  stateHash: r.state_hash,
  providerId: r.provider_id,
  connectionId: r.connection_id,
  userId: r.user_id,
  appId: r.app_id,
  returnTo: r.return_to,
  codeVerifierSealed: r.code_verifier_sealed,
  bindingHash: r.binding_hash,
  config: record(r.config),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  consumedAt: r.consumed_at,
});

export class KyselyOAuthStateStore implements OAuthStateStore {
  constructor(private readonly db: Db) {}

  async create(s: OAuthStateRecord): Promise<void> {
    await this.db
      .insertInto('oauth_states')
      .values({
        state_hash: s.stateHash,
        provider_id: s.providerId,
        connection_id: s.connectionId,
        user_id: s.userId,
        app_id: s.appId,
        return_to: s.returnTo,
        code_verifier_sealed: s.codeVerifierSealed,
        binding_hash: s.bindingHash,
        config: JSON.stringify(s.config),
        created_at: s.createdAt,
        expires_at: s.expiresAt,
        consumed_at: s.consumedAt,
      })
      .execute();
  }

  async get(stateHash: string): Promise<OAuthStateRecord | undefined> {
    const row = await this.db.selectFrom('oauth_states').selectAll().where('state_hash', '=', stateHash).executeTakeFirst();
    return row && toState(row);
  }

  async consume(stateHash: string, now: number): Promise<OAuthStateRecord | undefined> {
    const row = await this.db
      .updateTable('oauth_states')
      .set({ consumed_at: now })
      .where('state_hash', '=', stateHash)
      .where('consumed_at', 'is', null)
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    return row && toState(row);
  }
}
