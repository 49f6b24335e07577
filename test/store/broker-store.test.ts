import { describe, expect, it } from 'vitest';
import type { ConnectionRecord, LockLease } from '../../src/store/records.js';
import type { ConnectionFilter } from '../../src/store/broker-store.js';
import { sealContext, type SealedColumn } from '../../src/store/sealed-columns.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import {
  authorization,
  connectionRecord,
  DAY,
  deliveryRecord,
  HOUR,
  issueFor,
  MINUTE,
  NOW,
  oauthStateRecord,
  providerRecord,
  race,
  signingKeyRecord,
  sleep,
  uid,
  useStore,
  webhookRecord,
} from './fixtures.js';

/** How many concurrent callers race for one thing, over how many separate stores. */
const RACERS = 10;
const PEERS = 4;

/** A value as `seal` writes it: `v1.<master key id>.<iv>.<ciphertext>`. */
const sealedUnder = (kid: string, what = uid('plain')) => `v1.${kid}.iv.${what}`;

describe.each(DATABASE_KINDS)('broker store on %s', (kind) => {
  const t = useStore(kind);

  describe('providers', () => {
    it('upserting a name again updates that provider in place, keeping its id and creation time', async () => {
      const first = providerRecord({ name: 'github', createdAt: NOW, updatedAt: NOW });
      expect(await t.store.providers.upsert(first)).toEqual({ provider: first, created: true });

      const again = providerRecord({ name: 'github', clientId: 'new-client', scopes: ['repo', 'user'], createdAt: NOW + DAY, updatedAt: NOW + DAY });
      const expected = { ...again, id: first.id, createdAt: NOW };
      expect(await t.store.providers.upsert(again)).toEqual({ provider: expected, created: false });
      expect(await t.store.providers.get(first.id)).toEqual(expected);
      expect(await t.store.providers.get(again.id)).toBeUndefined();
      expect(await t.store.providers.list()).toEqual([expected]);
    });

    it('an app’s provider and the instance’s provider of the same name are separate', async () => {
      const instance = providerRecord({ name: 'github', appId: null, createdAt: NOW });
      const app = providerRecord({ name: 'github', appId: 'app-1', clientId: 'app-client', createdAt: NOW + 1 });
      expect((await t.store.providers.upsert(instance)).created).toBe(true);
      expect((await t.store.providers.upsert(app)).created).toBe(true);

      expect(await t.store.providers.find('github', null)).toEqual(instance);
      expect(await t.store.providers.find('github', 'app-1')).toEqual(app);
      expect(await t.store.providers.find('github', 'app-2')).toBeUndefined();
      expect(await t.store.providers.find('gitlab', null)).toBeUndefined();
      expect(await t.store.providers.list()).toEqual([instance, app]);
    });

    it('round-trips every field, and deletes', async () => {
      const provider = providerRecord({
        catalogName: 'github',
        grantType: 'client_credentials',
        authorizeUrl: null,
        revokeUrl: 'https://provider.example.test/revoke',
        userinfoUrl: 'https://provider.example.test/userinfo',
        issuer: null,
        issParameterSupported: true,
        scopes: [],
        scopeSeparator: ',',
        pkce: false,
        authMethod: 'client_secret_post',
        redirectUri: 'https://broker.example.test/callback',
        authorizationParams: { prompt: 'consent' },
        tokenParams: { audience: 'https://api.provider.example.test' },
        templateValues: { subdomain: 'acme' },
      });
      await t.store.providers.upsert(provider);
      expect(await t.store.providers.get(provider.id)).toEqual(provider);

      expect(await t.store.providers.delete(provider.id)).toBe(true);
      expect(await t.store.providers.delete(provider.id)).toBe(false);
      expect(await t.store.providers.get(provider.id)).toBeUndefined();
      expect(await t.store.providers.list()).toEqual([]);
    });

    it('of concurrent first registrations of one name on separate connections, exactly one creates it', async () => {
      const stores = await t.peers(PEERS);
      const results = await race(stores, RACERS, (s) => s.providers.upsert(providerRecord({ name: 'github' })));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.provider.id)).size).toBe(1);
      expect(await t.store.providers.list()).toHaveLength(1);
    });
  });

  describe('connections', () => {
    it('round-trips every field', async () => {
      const connection = connectionRecord({
        appId: 'app-1',
        source: 'portal',
        status: 'pending',
        scopes: ['read', 'write'],
        refreshTokenSealed: null,
        expiresAt: null,
        refreshAt: null,
        accountId: 'acct-1',
        accountEmail: 'alice@example.test',
        config: { subdomain: 'acme', team_id: 'T1' },
        oauth2RedirectUrl: 'https://app.example.test/connected',
        portalTokenHash: uid('portal-hash'),
        portalTokenSealed: sealedUnder('mk-1'),
        portalExpiresAt: NOW + DAY,
        failureCount: 3,
        nextAttemptAt: NOW + MINUTE,
        lastError: 'boom',
        authorizedAt: null,
      });
      await t.store.connections.create(connection);
      expect(await t.store.connections.get(connection.id)).toEqual(connection);
      expect(await t.store.connections.get('missing')).toBeUndefined();
    });

    it('a connection without a user or app is not one with them: each is found by exactly its own identity', async () => {
      const providerName = 'github';
      const nobody = connectionRecord({ providerName, userId: null, appId: null });
      const user = connectionRecord({ providerName, userId: 'u', appId: null });
      const app = connectionRecord({ providerName, userId: null, appId: 'a' });
      const both = connectionRecord({ providerName, userId: 'u', appId: 'a' });
      for (const c of [nobody, user, app, both]) await t.store.connections.create(c);

      expect(await t.store.connections.find(providerName, null, null)).toEqual(nobody);
      expect(await t.store.connections.find(providerName, 'u', null)).toEqual(user);
      expect(await t.store.connections.find(providerName, null, 'a')).toEqual(app);
      expect(await t.store.connections.find(providerName, 'u', 'a')).toEqual(both);
      expect(await t.store.connections.find(providerName, 'v', null)).toBeUndefined();
      expect(await t.store.connections.find('gitlab', null, null)).toBeUndefined();
    });

    it('refuses a second connection with the same provider, user and app, none of them or not', async () => {
      for (const identity of [
        { userId: 'u', appId: 'a' },
        { userId: 'u', appId: null },
        { userId: null, appId: null },
      ]) {
        const providerName = uid('provider-name');
        const first = connectionRecord({ providerName, ...identity });
        await t.store.connections.create(first);
        await expect(t.store.connections.create(connectionRecord({ providerName, ...identity })), JSON.stringify(identity)).rejects.toThrow();
        expect(await t.store.connections.list({ providerName })).toEqual([first]);
      }
    });

    it('finds a connection by its portal token hash', async () => {
      const portal = connectionRecord({ source: 'portal', portalTokenHash: uid('portal-hash') });
      await t.store.connections.create(portal);
      await t.store.connections.create(connectionRecord());
      expect(await t.store.connections.findByPortalTokenHash(portal.portalTokenHash!)).toEqual(portal);
      expect(await t.store.connections.findByPortalTokenHash('missing')).toBeUndefined();
    });

    it('lists by each filter only when it is given', async () => {
      const github = uid('provider');
      const a = connectionRecord({ providerId: github, providerName: 'github', userId: 'u1', appId: null, source: 'browser', createdAt: NOW });
      const b = connectionRecord({ providerId: github, providerName: 'github', userId: null, appId: 'app', source: 'portal', createdAt: NOW + 1 });
      const c = connectionRecord({ providerName: 'slack', userId: 'u1', appId: 'app', source: 'client_credentials', status: 'needs_reauth', createdAt: NOW + 2 });
      const d = connectionRecord({ providerName: 'slack', userId: null, appId: null, source: 'portal', status: 'pending', createdAt: NOW + 3 });
      for (const x of [a, b, c, d]) await t.store.connections.create(x);
      const ids = async (filter: ConnectionFilter) => (await t.store.connections.list(filter)).map((x) => x.id);

      expect(await t.store.connections.list({})).toEqual([a, b, c, d]);
      expect(await ids({ providerId: github })).toEqual([a.id, b.id]);
      expect(await ids({ providerName: 'slack' })).toEqual([c.id, d.id]);
      expect(await ids({ userId: 'u1' })).toEqual([a.id, c.id]);
      // null matches the connections without one.
      expect(await ids({ userId: null })).toEqual([b.id, d.id]);
      expect(await ids({ appId: 'app' })).toEqual([b.id, c.id]);
      expect(await ids({ appId: null })).toEqual([a.id, d.id]);
      expect(await ids({ sources: ['portal'] })).toEqual([b.id, d.id]);
      expect(await ids({ sources: ['browser', 'client_credentials'] })).toEqual([a.id, c.id]);
      expect(await ids({ status: 'active' })).toEqual([a.id, b.id]);
      expect(await ids({ providerName: 'slack', userId: null, sources: ['portal'], status: 'pending' })).toEqual([d.id]);
      expect(await ids({ providerName: 'github', status: 'needs_reauth' })).toEqual([]);
    });

    it('an update changes only the fields of the patch', async () => {
      const connection = connectionRecord({ lastError: 'old failure', failureCount: 2, accountId: 'acct' });
      const other = connectionRecord();
      await t.store.connections.create(connection);
      await t.store.connections.create(other);

      const patch = {
        accessTokenSealed: sealedUnder('mk-1'),
        expiresAt: NOW + 2 * HOUR,
        refreshAt: NOW + HOUR,
        failureCount: 0,
        // null is a value, unlike a missing field.
        lastError: null,
        nextAttemptAt: null,
        updatedAt: NOW + MINUTE,
      };
      const updated = await t.store.connections.update(connection.id, patch);
      expect(updated).toEqual({ ...connection, ...patch });
      expect(await t.store.connections.get(connection.id)).toEqual(updated);

      expect(await t.store.connections.update(connection.id, { status: 'needs_reauth', updatedAt: NOW + HOUR })).toEqual({
        ...connection,
        ...patch,
        status: 'needs_reauth',
        updatedAt: NOW + HOUR,
      });
      expect(await t.store.connections.get(other.id)).toEqual(other);
      expect(await t.store.connections.update('missing', { updatedAt: NOW })).toBeUndefined();
    });

    it('deletes', async () => {
      const connection = connectionRecord();
      await t.store.connections.create(connection);
      expect(await t.store.connections.delete(connection.id)).toBe(true);
      expect(await t.store.connections.delete(connection.id)).toBe(false);
      expect(await t.store.connections.get(connection.id)).toBeUndefined();
      // Its identity is free again.
      await t.store.connections.create({ ...connectionRecord(), providerName: connection.providerName, userId: connection.userId, appId: connection.appId });
    });

    it('is due for refresh when active, its refresh time has come and its retry backoff has passed', async () => {
      const now = NOW + HOUR;
      const due = (over: Partial<ConnectionRecord>) => connectionRecord({ status: 'active', refreshAt: now - MINUTE, nextAttemptAt: null, ...over });
      const dueEarliest = due({ refreshAt: now - HOUR });
      const dueNow = due({ refreshAt: now });
      const backoffPassed = due({ failureCount: 2, nextAttemptAt: now });
      const notYet = due({ refreshAt: now + 1 });
      const backingOff = due({ failureCount: 1, nextAttemptAt: now + 1 });
      const needsReauth = due({ status: 'needs_reauth' });
      const pending = due({ status: 'pending' });
      const noRefreshTime = due({ refreshAt: null });
      for (const c of [dueEarliest, dueNow, backoffPassed, notYet, backingOff, needsReauth, pending, noRefreshTime]) await t.store.connections.create(c);

      const ids = (cs: ConnectionRecord[]) => cs.map((c) => c.id).sort();
      expect(ids(await t.store.connections.dueForRefresh(now, 100))).toEqual(ids([dueEarliest, dueNow, backoffPassed]));
      // The limit takes the most overdue first.
      expect(await t.store.connections.dueForRefresh(now, 1)).toEqual([dueEarliest]);
      expect(await t.store.connections.dueForRefresh(now - 2 * HOUR, 100)).toEqual([]);
    });
  });

  describe('oauth states', () => {
    it('a state is consumed once, and not after it expired', async () => {
      const state = oauthStateRecord({ connectionId: uid('connection'), appId: 'app', config: { subdomain: 'acme' }, expiresAt: NOW + 10 * MINUTE });
      await t.store.oauthStates.create(state);
      expect(await t.store.oauthStates.get(state.stateHash)).toEqual(state);
      expect(await t.store.oauthStates.get('missing')).toBeUndefined();

      expect(await t.store.oauthStates.consume(state.stateHash, NOW + MINUTE)).toEqual({ ...state, consumedAt: NOW + MINUTE });
      expect(await t.store.oauthStates.consume(state.stateHash, NOW + MINUTE)).toBeUndefined();
      expect(await t.store.oauthStates.get(state.stateHash)).toEqual({ ...state, consumedAt: NOW + MINUTE });
      expect(await t.store.oauthStates.consume('missing', NOW)).toBeUndefined();

      const expiring = oauthStateRecord({ userId: null, returnTo: null, codeVerifierSealed: null, expiresAt: NOW + 10 * MINUTE });
      await t.store.oauthStates.create(expiring);
      expect(await t.store.oauthStates.consume(expiring.stateHash, NOW + 10 * MINUTE)).toBeUndefined();
      expect(await t.store.oauthStates.get(expiring.stateHash)).toEqual(expiring);
      expect(await t.store.oauthStates.consume(expiring.stateHash, NOW + 10 * MINUTE - 1)).toEqual({ ...expiring, consumedAt: NOW + 10 * MINUTE - 1 });
    });

    it('of concurrent consumes on separate connections, exactly one gets the state', async () => {
      const stores = await t.peers(PEERS);
      const state = oauthStateRecord();
      await t.store.oauthStates.create(state);
      const results = await race(stores, RACERS, (s, i) => s.oauthStates.consume(state.stateHash, NOW + i));
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(await t.store.oauthStates.get(state.stateHash)).toEqual(winners[0]);
    });
  });

  describe('webhooks', () => {
    it('creates, reads, lists and deletes webhooks', async () => {
      const all = webhookRecord({ createdAt: NOW });
      const some = webhookRecord({ events: ['connection.created', 'connection.refresh_failed'], createdAt: NOW + 1 });
      await t.store.webhooks.create(all);
      await t.store.webhooks.create(some);
      expect(await t.store.webhooks.get(some.id)).toEqual(some);
      expect(await t.store.webhooks.get('missing')).toBeUndefined();
      expect(await t.store.webhooks.list()).toEqual([all, some]);

      expect(await t.store.webhooks.delete(all.id)).toBe(true);
      expect(await t.store.webhooks.delete(all.id)).toBe(false);
      expect(await t.store.webhooks.list()).toEqual([some]);
    });

    it('hands out pending deliveries whose time has come, oldest first, until an attempt settles them', async () => {
      const webhook = webhookRecord();
      await t.store.webhooks.create(webhook);
      const delivery = (over: Parameters<typeof deliveryRecord>[0]) => deliveryRecord({ webhookId: webhook.id, ...over });
      const first = delivery({ nextAttemptAt: NOW - MINUTE });
      const second = delivery({ nextAttemptAt: NOW });
      const later = delivery({ nextAttemptAt: NOW + 1 });
      const delivered = delivery({ status: 'delivered', nextAttemptAt: NOW - HOUR, attempts: 1, deliveredAt: NOW - HOUR });
      const failed = delivery({ status: 'failed', nextAttemptAt: NOW - HOUR, attempts: 9 });
      await t.store.webhooks.enqueue([second, later, delivered, failed, first]);
      await t.store.webhooks.enqueue([]);

      expect(await t.store.webhooks.due(NOW, 100)).toEqual([first, second]);
      expect(await t.store.webhooks.due(NOW, 1)).toEqual([first]);

      // A failed attempt puts it back for later; a successful one settles it.
      const retry = { status: 'pending' as const, attempts: 1, nextAttemptAt: NOW + HOUR, lastStatusCode: 500, lastError: 'HTTP 500', deliveredAt: null };
      await t.store.webhooks.recordAttempt(first.id, retry);
      const success = { status: 'delivered' as const, attempts: 1, nextAttemptAt: null, lastStatusCode: 204, lastError: null, deliveredAt: NOW };
      await t.store.webhooks.recordAttempt(second.id, success);
      expect(await t.store.webhooks.due(NOW, 100)).toEqual([]);
      expect(await t.store.webhooks.due(NOW + HOUR, 100)).toEqual([later, { ...first, ...retry }]);

      const log = await t.store.webhooks.deliveries(webhook.id, 100);
      expect(log.find((d) => d.id === second.id)).toEqual({ ...second, ...success });
    });

    it('the delivery log of a webhook is newest first, and goes with the webhook', async () => {
      const webhook = webhookRecord();
      const other = webhookRecord();
      await t.store.webhooks.create(webhook);
      await t.store.webhooks.create(other);
      const old = deliveryRecord({ webhookId: webhook.id, createdAt: NOW });
      const middle = deliveryRecord({ webhookId: webhook.id, createdAt: NOW + 1 });
      const newest = deliveryRecord({ webhookId: webhook.id, createdAt: NOW + 2 });
      const theirs = deliveryRecord({ webhookId: other.id, createdAt: NOW + 1 });
      await t.store.webhooks.enqueue([middle, theirs, newest, old]);

      expect(await t.store.webhooks.deliveries(webhook.id, 10)).toEqual([newest, middle, old]);
      expect(await t.store.webhooks.deliveries(webhook.id, 2)).toEqual([newest, middle]);

      expect(await t.store.webhooks.delete(webhook.id)).toBe(true);
      expect(await t.store.webhooks.deliveries(webhook.id, 10)).toEqual([]);
      // Its pending deliveries are not made any more.
      expect(await t.store.webhooks.due(NOW + 2, 10)).toEqual([theirs]);
      expect(await t.store.webhooks.deliveries(other.id, 10)).toEqual([theirs]);
    });
  });

  describe('sealed values', () => {
    it('every registered column is found where it lives, with the context its row seals it with', async () => {
      const old = 'mk-old';
      const key = signingKeyRecord({ privateSealed: sealedUnder(old) });
      await t.store.signingKeys.insertFirst(key);
      const provider = providerRecord({ clientSecretSealed: sealedUnder(old) });
      await t.store.providers.upsert(provider);
      const connection = connectionRecord({
        accessTokenSealed: sealedUnder(old),
        refreshTokenSealed: sealedUnder(old),
        portalTokenSealed: sealedUnder(old),
      });
      await t.store.connections.create(connection);
      const state = oauthStateRecord({ codeVerifierSealed: sealedUnder(old) });
      await t.store.oauthStates.create(state);
      const webhook = webhookRecord({ secretSealed: sealedUnder(old) });
      await t.store.webhooks.create(webhook);
      const auth = authorization();
      const issue = issueFor(auth.grant);
      issue.refreshToken!.reissueSealed = sealedUnder(old);
      await t.store.tokens.insertCode(auth.code);
      await t.store.tokens.redeemCode(auth.code.codeHash, NOW, auth.grant, issue);

      const rowKey: Record<string, string> = {
        'signing_keys.private_sealed': key.kid,
        'providers.client_secret_sealed': provider.id,
        'connections.access_token_sealed': connection.id,
        'connections.refresh_token_sealed': connection.id,
        'connections.portal_token_sealed': connection.id,
        'oauth_states.code_verifier_sealed': state.stateHash,
        'webhooks.secret_sealed': webhook.id,
        'refresh_tokens.reissue_sealed': issue.refreshToken!.tokenHash,
      };
      expect([...t.store.sealedValues.columns()].sort()).toEqual(Object.keys(rowKey).sort());
      for (const column of t.store.sealedValues.columns()) {
        const [value, ...more] = await t.store.sealedValues.stale(column, 'mk-new', 10);
        expect(more, column).toEqual([]);
        expect(value, column).toEqual({
          column,
          key: rowKey[column],
          sealed: expect.stringMatching(/^v1\.mk-old\./),
          context: sealContext(column as SealedColumn, rowKey[column]!),
        });
        expect(await t.store.sealedValues.replace(value!, sealedUnder('mk-new')), column).toBe(true);
        expect(await t.store.sealedValues.stale(column, 'mk-new', 10), column).toEqual([]);
      }
      expect((await t.store.connections.get(connection.id))?.accessTokenSealed).toMatch(/^v1\.mk-new\./);
      expect((await t.store.webhooks.get(webhook.id))?.secretSealed).toMatch(/^v1\.mk-new\./);
    });

    it('stale selects exactly the values not sealed under the given key, whatever its id holds', async () => {
      const column = 'connections.access_token_sealed';
      // `_` and `%` are wildcards to LIKE; `k_1` must not take `kx1`, nor `k_1` take `k_10`.
      const current = connectionRecord({ accessTokenSealed: sealedUnder('k_1') });
      const lookalike = connectionRecord({ accessTokenSealed: sealedUnder('kx1') });
      const longer = connectionRecord({ accessTokenSealed: sealedUnder('k_10') });
      const percent = connectionRecord({ accessTokenSealed: sealedUnder('k%') });
      const none = connectionRecord({ accessTokenSealed: null });
      for (const c of [current, lookalike, longer, percent, none]) await t.store.connections.create(c);

      const stale = async (kid: string, limit = 10) => (await t.store.sealedValues.stale(column, kid, limit)).map((v) => v.key);
      const byId = (...cs: ConnectionRecord[]) => cs.map((c) => c.id).sort();
      expect((await stale('k_1')).sort()).toEqual(byId(lookalike, longer, percent));
      expect((await stale('k%')).sort()).toEqual(byId(current, lookalike, longer));
      expect((await stale('k_10')).sort()).toEqual(byId(current, lookalike, percent));
      expect(await stale('k_1', 2)).toEqual((await stale('k_1')).slice(0, 2));
      await expect(t.store.sealedValues.stale('users.password_hash', 'k_1', 10)).rejects.toThrow();
    });

    it('a value replaced meanwhile is not overwritten', async () => {
      const column = 'connections.access_token_sealed';
      const connection = connectionRecord({ accessTokenSealed: sealedUnder('mk-old') });
      await t.store.connections.create(connection);
      const [value] = await t.store.sealedValues.stale(column, 'mk-new', 10);

      // A refresh writes a new token between the read and the replace.
      const refreshed = sealedUnder('mk-new', 'refreshed');
      await t.store.connections.update(connection.id, { accessTokenSealed: refreshed });
      expect(await t.store.sealedValues.replace(value!, sealedUnder('mk-new', 'resealed-old'))).toBe(false);
      expect((await t.store.connections.get(connection.id))?.accessTokenSealed).toBe(refreshed);

      // Only the first of two replaces of one read value succeeds.
      const again = connectionRecord({ accessTokenSealed: sealedUnder('mk-old') });
      await t.store.connections.create(again);
      const [second] = await t.store.sealedValues.stale(column, 'mk-new', 10);
      expect(await t.store.sealedValues.replace(second!, sealedUnder('mk-new', 'one'))).toBe(true);
      expect(await t.store.sealedValues.replace(second!, sealedUnder('mk-new', 'two'))).toBe(false);
      expect((await t.store.connections.get(again.id))?.accessTokenSealed).toBe(sealedUnder('mk-new', 'one'));
    });
  });

  describe('transactions', () => {
    it('commit every write of every part together', async () => {
      const webhook = webhookRecord();
      await t.store.webhooks.create(webhook);
      const provider = providerRecord();
      const connection = connectionRecord({ providerId: provider.id, providerName: provider.name });
      const delivery = deliveryRecord({ webhookId: webhook.id });

      const result = await t.store.transaction(async (tx) => {
        await tx.providers.upsert(provider);
        await tx.connections.create(connection);
        await tx.webhooks.enqueue([delivery]);
        return 'done';
      });

      expect(result).toBe('done');
      expect(await t.store.providers.get(provider.id)).toEqual(provider);
      expect(await t.store.connections.get(connection.id)).toEqual(connection);
      expect(await t.store.webhooks.deliveries(webhook.id, 10)).toEqual([delivery]);
    });

    it('write nothing when the work throws, and are not seen by others before they commit', async () => {
      const [, other] = await t.peers(2);
      const webhook = webhookRecord();
      await t.store.webhooks.create(webhook);
      const kept = deliveryRecord({ webhookId: webhook.id });
      await t.store.webhooks.enqueue([kept]);
      const provider = providerRecord();
      const connection = connectionRecord();

      const failure = new Error('the work failed');
      await expect(
        t.store.transaction(async (tx) => {
          await tx.providers.upsert(provider);
          await tx.connections.create(connection);
          await tx.webhooks.enqueue([deliveryRecord({ webhookId: webhook.id })]);
          // A part that runs its own transaction joins this one.
          expect(await tx.webhooks.delete(webhook.id)).toBe(true);
          expect(await other!.connections.get(connection.id)).toBeUndefined();
          throw failure;
        }),
      ).rejects.toBe(failure);

      expect(await t.store.providers.list()).toEqual([]);
      expect(await t.store.connections.get(connection.id)).toBeUndefined();
      expect(await t.store.webhooks.get(webhook.id)).toEqual(webhook);
      expect(await t.store.webhooks.deliveries(webhook.id, 10)).toEqual([kept]);
    });

    it('write nothing when one of their statements fails', async () => {
      const taken = connectionRecord();
      await t.store.connections.create(taken);
      const provider = providerRecord();
      const state = oauthStateRecord();
      await expect(
        t.store.transaction(async (tx) => {
          await tx.providers.upsert(provider);
          await tx.oauthStates.create(state);
          await tx.connections.create(connectionRecord({ providerName: taken.providerName, userId: taken.userId, appId: taken.appId }));
        }),
      ).rejects.toThrow();
      expect(await t.store.providers.get(provider.id)).toBeUndefined();
      expect(await t.store.oauthStates.get(state.stateHash)).toBeUndefined();
    });
  });

  describe('writes guarded by a lock', () => {
    class LockLost extends Error {}
    /** Writes `lastError` on the connection only if `lease` is still held, as a refresh stores its tokens. */
    const guardedWrite = (lease: LockLease, connectionId: string, value: string, meanwhile: () => Promise<void> = async () => undefined) =>
      t.store.transaction(async (tx) => {
        if (!(await tx.locks.isHeld(lease))) throw new LockLost();
        await meanwhile();
        await tx.connections.update(connectionId, { lastError: value });
      });

    it('go through while the lease is held, and are refused once it was taken over', async () => {
      const connection = connectionRecord({ lastError: null });
      await t.store.connections.create(connection);
      const name = uid('lock');
      const lease = (await t.store.locks.acquire(name, 'a', 50))!;

      await guardedWrite(lease, connection.id, 'by a');
      expect((await t.store.connections.get(connection.id))?.lastError).toBe('by a');

      await sleep(150);
      const takeover = await t.store.locks.acquire(name, 'b', MINUTE);
      expect(takeover?.fence).toBe(2);
      await expect(guardedWrite(lease, connection.id, 'by a, too late')).rejects.toBeInstanceOf(LockLost);
      expect((await t.store.connections.get(connection.id))?.lastError).toBe('by a');
    });

    it('a takeover never lands between the check and the write it guards', async () => {
      const [, other] = await t.peers(2);
      const connection = connectionRecord({ lastError: null });
      await t.store.connections.create(connection);
      const name = uid('lock');
      const lease = (await t.store.locks.acquire(name, 'a', 50))!;
      const events: string[] = [];
      let takeover: Promise<LockLease | undefined> | undefined;

      const outcome = await guardedWrite(lease, connection.id, 'by a', async () => {
        // The lease runs out while the guarded work is under way, and another process takes it over.
        await sleep(150);
        takeover = other!.locks.acquire(name, 'b', MINUTE).finally(() => events.push('taken over'));
        await Promise.race([takeover, sleep(200)]);
        events.push('writing');
      }).then(
        () => 'committed',
        () => 'refused',
      );

      expect((await takeover)?.fence).toBe(2);
      const written = (await t.store.connections.get(connection.id))?.lastError === 'by a';
      expect(written).toBe(outcome === 'committed');
      // Either the write finished before the takeover, or it was refused.
      if (outcome === 'committed') expect(events.indexOf('writing')).toBeLessThan(events.indexOf('taken over'));
      // PostgreSQL locks the lock row for the transaction: the takeover waits for the commit.
      if (kind === 'postgres') expect(outcome).toBe('committed');
    });
  });
});
