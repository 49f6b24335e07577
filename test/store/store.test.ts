import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { openStore } from '../../src/store/open.js';
import type { Database } from '../../src/store/schema.js';
import type { PurgeRetention, Store } from '../../src/store/store.js';
import { createTestDatabase, DATABASE_KINDS } from '../helpers/databases.js';
import {
  accessTokenRecord,
  apiKeyRecord,
  apiRecord,
  auditEvent,
  authorization,
  clientRecord,
  codeRecord,
  consentRecord,
  DAY,
  deliveryRecord,
  grantRecord,
  HOUR,
  interactionRecord,
  issueFor,
  MINUTE,
  NOW,
  oauthStateRecord,
  race,
  useStore,
  refreshTokenRecord,
  SECOND,
  sessionRecord,
  signingKeyRecord,
  sleep,
  uid,
  userRecord,
  webhookRecord,
} from './fixtures.js';

/** How many concurrent callers race for one single-use thing, and over how many separate stores. */
const RACERS = 10;
const PEERS = 4;

/** Lock leases on the database's clock: one that outlives any test, and one a test waits out. */
const LONG_LEASE_MS = MINUTE;
const SHORT_LEASE_MS = 50;
const outlastShortLease = () => sleep(3 * SHORT_LEASE_MS);

async function countRows(store: KyselyStore, table: keyof Database): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(store.db);
  return Number(rows[0]?.n);
}

async function accessTokenRow(store: KyselyStore, jti: string) {
  return store.db.selectFrom('access_tokens').selectAll().where('jti', '=', jti).executeTakeFirst();
}

/** The parts of the store the processes race on, and one call of a method of one of them. */
type RacedArea = 'tokens' | 'interactions' | 'locks';
type Call = { [A in RacedArea]: { area: A; method: keyof Store[A]; args: unknown[] } }[RacedArea];

const RACE_CHILD = fileURLToPath(new URL('./race-child.mjs', import.meta.url));

/**
 * Runs each list of calls in its own process on the database at `url` (see race-child.mjs): the
 * processes open their stores first, then all are released at once. Returns each process's results.
 */
async function raceInProcesses(url: string, perProcess: Call[][]): Promise<unknown[][]> {
  const children = perProcess.map(() => fork(RACE_CHILD, [url], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const answer = (child: (typeof children)[number]) =>
    new Promise<{ ready?: true; results?: unknown[]; error?: string }>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`race child exited early with code ${code}`));
      child.once('exit', onExit);
      child.once('message', (message: { ready?: true; results?: unknown[]; error?: string }) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  try {
    await Promise.all(children.map(answer));
    const answers = await Promise.all(
      children.map((child, i) => {
        const answered = answer(child);
        child.send({ calls: perProcess[i] });
        return answered;
      }),
    );
    return answers.map((a) => {
      if (a.error !== undefined || a.results === undefined) throw new Error(`race child failed: ${a.error}`);
      return a.results;
    });
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill();
  }
}

describe.each(DATABASE_KINDS)('store on %s', (kind) => {
  const harness = useStore(kind);
  let store: KyselyStore;
  // useStore's own beforeEach, registered first, has opened the test's store by now.
  beforeEach(() => {
    store = harness.store;
  });
  const peers = (n = PEERS) => harness.peers(n);

  it('reports its dialect', () => {
    expect(store.dialect).toBe(kind);
  });

  it('migrates a second database next to a live one (on PostgreSQL: another schema of the same database)', async () => {
    await store.users.create(userRecord());
    const second = await createTestDatabase(kind);
    const other = await openStore(second.url);
    try {
      expect(await other.users.list()).toEqual([]);
      const user = userRecord();
      await other.users.create(user);
      expect(await other.users.list()).toEqual([user]);
      expect(await store.users.list()).toHaveLength(1);
    } finally {
      await other.close();
      await second.drop();
    }
  });

  describe('apis', () => {
    it('creates, reads, lists and deletes', async () => {
      const a = apiRecord({ createdAt: NOW });
      const b = apiRecord({ createdAt: NOW + 1, isDefault: true });
      await store.apis.create(a);
      await store.apis.create(b);

      expect(await store.apis.get(a.id)).toEqual(a);
      expect(await store.apis.getByIdentifier(b.identifier)).toEqual(b);
      expect(await store.apis.get('missing')).toBeUndefined();
      expect(await store.apis.getByIdentifier('https://missing.example.test')).toBeUndefined();
      expect(await store.apis.list()).toEqual([a, b]);
      expect(await store.apis.getDefault()).toEqual(b);

      expect(await store.apis.delete(a.id, NOW)).toBe(true);
      expect(await store.apis.delete(a.id, NOW)).toBe(false);
      expect(await store.apis.list()).toEqual([b]);
    });

    it('revokes the grants, codes and consents of a deleted API, and no other', async () => {
      const api = apiRecord({ identifier: 'https://gone.example.test' });
      await store.apis.create(api);
      const redeemed = authorization();
      const doomed = { code: { ...redeemed.code, resource: api.identifier }, grant: { ...redeemed.grant, resource: api.identifier } };
      await store.tokens.insertCode(doomed.code);
      const issue = issueFor(doomed.grant);
      await store.tokens.redeemCode(doomed.code.codeHash, NOW, doomed.grant, issue);
      const pending = codeRecord({ resource: api.identifier });
      await store.tokens.insertCode(pending);
      await store.consents.save(consentRecord({ resource: api.identifier, userId: doomed.grant.userId!, clientId: doomed.grant.clientId }));
      const kept = authorization();
      await store.tokens.insertCode(kept.code);
      await store.tokens.redeemCode(kept.code.codeHash, NOW, kept.grant, issueFor(kept.grant));

      expect(await store.apis.delete(api.id, NOW + 7)).toBe(true);

      expect((await store.tokens.getGrant(doomed.grant.id))?.revokedAt).toBe(NOW + 7);
      expect(await store.tokens.findRefreshToken(issue.refreshToken!.tokenHash)).toBeUndefined();
      expect((await store.tokens.accessTokenState(issue.accessToken.jti)).revoked).toBe(true);
      expect(await store.tokens.findCode(pending.codeHash)).toBeUndefined();
      expect(await store.consents.get(doomed.grant.userId!, doomed.grant.clientId, api.identifier)).toBeUndefined();
      expect((await store.tokens.getGrant(kept.grant.id))?.revokedAt).toBeNull();
    });

    it('rejects a second API with the same identifier', async () => {
      const a = apiRecord();
      await store.apis.create(a);
      await expect(store.apis.create(apiRecord({ identifier: a.identifier }))).rejects.toThrow();
      expect(await store.apis.list()).toEqual([a]);
    });

    it('keeps a single default API when another is created or updated as default', async () => {
      const first = apiRecord({ isDefault: true, createdAt: NOW });
      const second = apiRecord({ isDefault: true, createdAt: NOW + 1 });
      const third = apiRecord({ isDefault: false, createdAt: NOW + 2 });
      await store.apis.create(first);
      await store.apis.create(second);
      await store.apis.create(third);

      expect((await store.apis.get(first.id))?.isDefault).toBe(false);
      expect((await store.apis.getDefault())?.id).toBe(second.id);

      const updated = await store.apis.update(third.id, { isDefault: true }, NOW + 10);
      expect(updated?.isDefault).toBe(true);
      expect((await store.apis.getDefault())?.id).toBe(third.id);
      expect((await store.apis.list()).filter((api) => api.isDefault).map((api) => api.id)).toEqual([third.id]);
    });

    it('updates only the fields of the patch', async () => {
      const api = apiRecord({ isDefault: true });
      await store.apis.create(api);
      const scopes = [{ value: 'admin', description: 'Everything' }];

      const renamed = await store.apis.update(api.id, { name: 'Renamed' }, NOW + 5);
      expect(renamed).toEqual({ ...api, name: 'Renamed', updatedAt: NOW + 5 });

      const rescoped = await store.apis.update(api.id, { scopes }, NOW + 6);
      expect(rescoped).toEqual({ ...api, name: 'Renamed', scopes, updatedAt: NOW + 6 });

      const undefaulted = await store.apis.update(api.id, { isDefault: false }, NOW + 7);
      expect(undefaulted).toEqual({ ...api, name: 'Renamed', scopes, isDefault: false, updatedAt: NOW + 7 });
      expect(await store.apis.get(api.id)).toEqual(undefaulted);
      expect(await store.apis.getDefault()).toBeUndefined();
    });

    it('updating a missing API returns undefined and leaves the default alone', async () => {
      const api = apiRecord({ isDefault: true });
      await store.apis.create(api);
      expect(await store.apis.update('missing', { isDefault: true }, NOW + 1)).toBeUndefined();
      expect(await store.apis.getDefault()).toEqual(api);
    });
  });

  describe('clients', () => {
    it('creates, reads and lists, public and confidential', async () => {
      const confidential = clientRecord({ createdAt: NOW });
      const pub = clientRecord({ createdAt: NOW + 1, isPublic: true, secretHash: null, authMethod: null, grantTypes: ['authorization_code'] });
      await store.clients.create(confidential);
      await store.clients.create(pub);

      expect(await store.clients.get(confidential.id)).toEqual(confidential);
      expect(await store.clients.get(pub.id)).toEqual(pub);
      expect(await store.clients.get('missing')).toBeUndefined();
      expect(await store.clients.list()).toEqual([confidential, pub]);
    });

    it('updates only the fields of the patch', async () => {
      const client = clientRecord();
      const other = clientRecord();
      await store.clients.create(client);
      await store.clients.create(other);

      const renamed = await store.clients.update(client.id, { name: 'New name' }, NOW + 1);
      expect(renamed).toEqual({ ...client, name: 'New name', updatedAt: NOW + 1 });

      const patch = {
        redirectUris: ['https://new.example.test/cb', 'https://new.example.test/cb2'],
        grantTypes: ['client_credentials' as const],
        scopes: ['admin'],
        secretHash: 'rotated-hash',
        authMethod: 'client_secret_post' as const,
      };
      const changed = await store.clients.update(client.id, patch, NOW + 2);
      expect(changed).toEqual({ ...client, ...patch, name: 'New name', updatedAt: NOW + 2 });

      // null is a value (no secret, both auth methods), unlike a missing field.
      const cleared = await store.clients.update(client.id, { secretHash: null, authMethod: null }, NOW + 3);
      expect(cleared).toEqual({ ...client, ...patch, name: 'New name', secretHash: null, authMethod: null, updatedAt: NOW + 3 });
      expect(await store.clients.get(client.id)).toEqual(cleared);

      expect(await store.clients.get(other.id)).toEqual(other);
      expect(await store.clients.update('missing', { name: 'x' }, NOW)).toBeUndefined();
    });

    it('deleting a client removes its grants, refresh tokens, codes and consents, and nobody else’s', async () => {
      const client = clientRecord();
      const other = clientRecord();
      const user = userRecord();
      await store.clients.create(client);
      await store.clients.create(other);
      await store.users.create(user);

      const mine = authorization({ clientId: client.id, userId: user.id });
      const theirs = authorization({ clientId: other.id, userId: user.id });
      const myIssue = issueFor(mine.grant);
      const theirIssue = issueFor(theirs.grant);
      for (const [auth, issue] of [
        [mine, myIssue],
        [theirs, theirIssue],
      ] as const) {
        await store.tokens.insertCode(auth.code);
        expect((await store.tokens.redeemCode(auth.code.codeHash, NOW, auth.grant, issue)).outcome).toBe('redeemed');
      }
      const pending = codeRecord({ clientId: client.id, userId: user.id });
      await store.tokens.insertCode(pending);
      await store.consents.save(consentRecord({ userId: user.id, clientId: client.id }));
      await store.consents.save(consentRecord({ userId: user.id, clientId: other.id }));

      expect(await store.clients.delete(client.id)).toBe(true);

      expect(await store.clients.get(client.id)).toBeUndefined();
      expect(await store.tokens.getGrant(mine.grant.id)).toBeUndefined();
      expect(await store.tokens.findRefreshToken(myIssue.refreshToken!.tokenHash)).toBeUndefined();
      expect(await store.tokens.findCode(mine.code.codeHash)).toBeUndefined();
      expect(await store.tokens.findCode(pending.codeHash)).toBeUndefined();
      expect(await store.consents.get(user.id, client.id, 'https://api.example.test')).toBeUndefined();
      // Its access tokens are no longer good: their grant is gone.
      expect(await store.tokens.accessTokenState(myIssue.accessToken.jti)).toEqual({ revoked: true });

      expect(await store.clients.get(other.id)).toEqual(other);
      expect(await store.tokens.getGrant(theirs.grant.id)).toEqual(theirs.grant);
      expect(await store.tokens.findRefreshToken(theirIssue.refreshToken!.tokenHash)).toBeDefined();
      expect(await store.tokens.findCode(theirs.code.codeHash)).toBeDefined();
      expect(await store.consents.get(user.id, other.id, 'https://api.example.test')).toBeDefined();
      expect(await store.tokens.accessTokenState(theirIssue.accessToken.jti)).toEqual({ revoked: false });

      expect(await store.clients.delete(client.id)).toBe(false);
    });
  });

  describe('users', () => {
    it('creates, reads, lists and deletes', async () => {
      const admin = userRecord({ isAdmin: true, createdAt: NOW });
      const plain = userRecord({ createdAt: NOW + 1 });
      await store.users.create(admin);
      await store.users.create(plain);

      expect(await store.users.get(admin.id)).toEqual(admin);
      expect(await store.users.getByUsername(plain.username)).toEqual(plain);
      expect(await store.users.get('missing')).toBeUndefined();
      expect(await store.users.getByUsername('missing')).toBeUndefined();
      expect(await store.users.list()).toEqual([admin, plain]);

      expect(await store.users.delete(admin.id, NOW)).toBe(true);
      expect(await store.users.delete(admin.id, NOW)).toBe(false);
      expect(await store.users.list()).toEqual([plain]);
    });

    it('rejects a second user with the same username', async () => {
      const user = userRecord();
      await store.users.create(user);
      await expect(store.users.create(userRecord({ username: user.username }))).rejects.toThrow();
      expect(await store.users.list()).toEqual([user]);
    });

    it('deleting a user revokes their grants and removes their consents and sessions', async () => {
      const user = userRecord();
      const other = userRecord();
      await store.users.create(user);
      await store.users.create(other);
      const mine = authorization({ userId: user.id });
      const theirs = authorization({ userId: other.id });
      for (const auth of [mine, theirs]) {
        await store.tokens.insertCode(auth.code);
        await store.tokens.redeemCode(auth.code.codeHash, NOW, auth.grant, issueFor(auth.grant));
      }
      const mySession = sessionRecord({ userId: user.id });
      const theirSession = sessionRecord({ userId: other.id });
      await store.sessions.create(mySession);
      await store.sessions.create(theirSession);
      await store.consents.save(consentRecord({ userId: user.id, clientId: mine.grant.clientId }));

      expect(await store.users.delete(user.id, NOW + 5)).toBe(true);

      expect((await store.tokens.getGrant(mine.grant.id))?.revokedAt).toBe(NOW + 5);
      expect(await store.consents.list(user.id)).toEqual([]);
      expect(await store.sessions.get(mySession.idHash, NOW)).toBeUndefined();
      expect(await store.tokens.getGrant(theirs.grant.id)).toEqual(theirs.grant);
      expect(await store.sessions.get(theirSession.idHash, NOW)).toEqual(theirSession);
    });
  });

  describe('api keys', () => {
    it('finds a key by its hash, lists and deletes', async () => {
      const a = apiKeyRecord({ createdAt: NOW });
      const b = apiKeyRecord({ createdAt: NOW + 1 });
      await store.apiKeys.create(a);
      await store.apiKeys.create(b);

      expect(await store.apiKeys.getByHash(a.keyHash)).toEqual(a);
      expect(await store.apiKeys.getByHash(b.keyHash)).toEqual(b);
      expect(await store.apiKeys.getByHash('no-such-hash')).toBeUndefined();
      expect(await store.apiKeys.list()).toEqual([a, b]);

      expect(await store.apiKeys.delete(a.id)).toBe(true);
      expect(await store.apiKeys.delete(a.id)).toBe(false);
      expect(await store.apiKeys.getByHash(a.keyHash)).toBeUndefined();
      expect(await store.apiKeys.list()).toEqual([b]);
    });

    it('rejects two keys with the same hash', async () => {
      const a = apiKeyRecord();
      await store.apiKeys.create(a);
      await expect(store.apiKeys.create(apiKeyRecord({ keyHash: a.keyHash }))).rejects.toThrow();
    });
  });

  describe('signing keys', () => {
    it('inserts the first key only when no active key exists', async () => {
      const first = signingKeyRecord({ createdAt: NOW });
      expect(await store.signingKeys.insertFirst(first)).toBe(true);
      // Right away (the first start's lease is still live) and much later (its lease is long gone).
      expect(await store.signingKeys.insertFirst(signingKeyRecord({ createdAt: NOW + 1 }))).toBe(false);
      await store.db.deleteFrom('locks').execute();
      expect(await store.signingKeys.insertFirst(signingKeyRecord({ createdAt: NOW + DAY }))).toBe(false);
      expect(await store.signingKeys.list()).toEqual([first]);
    });

    it('rotation retires the key that signed and makes the new one active', async () => {
      const first = signingKeyRecord({ createdAt: NOW });
      const second = signingKeyRecord({ createdAt: NOW + DAY });
      const third = signingKeyRecord({ createdAt: NOW + 2 * DAY });
      expect(await store.signingKeys.insertFirst(first)).toBe(true);
      await store.signingKeys.rotate(second, NOW + DAY);
      expect(await store.signingKeys.list()).toEqual([{ ...first, retiredAt: NOW + DAY }, second]);

      await store.signingKeys.rotate(third, NOW + 2 * DAY);
      expect(await store.signingKeys.list()).toEqual([
        { ...first, retiredAt: NOW + DAY },
        { ...second, retiredAt: NOW + 2 * DAY },
        third,
      ]);
      expect(await store.signingKeys.insertFirst(signingKeyRecord({ createdAt: NOW + 3 * DAY }))).toBe(false);
    });

    it('updates the sealed private key', async () => {
      const key = signingKeyRecord();
      await store.signingKeys.insertFirst(key);
      // Re-sealing (latchkey secrets rotate) goes through the registry of sealed columns.
      const [value] = await store.sealedValues.stale('signing_keys.private_sealed', 'mk-2', 10);
      expect(value).toEqual({ column: 'signing_keys.private_sealed', key: key.kid, sealed: key.privateSealed, context: `signing_key:${key.kid}` });
      expect(await store.sealedValues.replace(value!, 'v1.mk-2.resealed')).toBe(true);
      expect(await store.signingKeys.list()).toEqual([{ ...key, privateSealed: 'v1.mk-2.resealed' }]);
      expect(await store.sealedValues.stale('signing_keys.private_sealed', 'mk-2', 10)).toEqual([]);
    });

    it('of concurrent first starts on separate connections, exactly one inserts', async () => {
      const stores = await peers();
      const results = await race(stores, RACERS, (s) => s.signingKeys.insertFirst(signingKeyRecord({ createdAt: NOW })));
      expect(results.filter(Boolean)).toHaveLength(1);
      const keys = await store.signingKeys.list();
      expect(keys).toHaveLength(1);
      expect(keys[0]?.retiredAt).toBeNull();
    });
  });

  describe('authorization codes', () => {
    it('stores and finds a code', async () => {
      const { code } = authorization();
      await store.tokens.insertCode(code);
      expect(await store.tokens.findCode(code.codeHash)).toEqual(code);
      expect(await store.tokens.findCode('missing')).toBeUndefined();
    });

    it('the first redemption stores the grant and its tokens; a second finds the code consumed', async () => {
      const { code, grant } = authorization();
      await store.tokens.insertCode(code);
      const issue = issueFor(grant);

      const first = await store.tokens.redeemCode(code.codeHash, NOW + SECOND, grant, issue);
      expect(first).toEqual({ outcome: 'redeemed', record: { ...code, consumedAt: NOW + SECOND } });
      expect(await store.tokens.getGrant(grant.id)).toEqual(grant);
      expect(await store.tokens.findRefreshToken(issue.refreshToken!.tokenHash)).toEqual({ token: issue.refreshToken, grant });
      expect(await accessTokenRow(store, issue.accessToken.jti)).toEqual({
        jti: issue.accessToken.jti,
        grant_id: grant.id,
        client_id: grant.clientId,
        expires_at: issue.accessToken.expiresAt,
        revoked_at: null,
      });
      expect(await store.tokens.accessTokenState(issue.accessToken.jti)).toEqual({ revoked: false });

      const replayIssue = issueFor(grant, NOW + 2 * SECOND);
      const second = await store.tokens.redeemCode(code.codeHash, NOW + 2 * SECOND, { ...grant, id: uid('grant') }, replayIssue);
      expect(second).toEqual({ outcome: 'already_consumed', record: { ...code, consumedAt: NOW + SECOND } });
      // The loser wrote nothing.
      expect(await store.tokens.findRefreshToken(replayIssue.refreshToken!.tokenHash)).toBeUndefined();
      expect(await accessTokenRow(store, replayIssue.accessToken.jti)).toBeUndefined();
      expect(await countRows(store, 'grants')).toBe(1);
    });

    it('an unknown code is not found and nothing is written', async () => {
      const { grant } = authorization();
      expect(await store.tokens.redeemCode('missing', NOW, grant, issueFor(grant))).toEqual({ outcome: 'not_found' });
      expect(await countRows(store, 'grants')).toBe(0);
      expect(await countRows(store, 'refresh_tokens')).toBe(0);
      expect(await countRows(store, 'access_tokens')).toBe(0);
    });

    it('a redemption without a refresh token stores none', async () => {
      const { code, grant } = authorization();
      await store.tokens.insertCode(code);
      const issue = issueFor(grant, NOW, false);
      expect((await store.tokens.redeemCode(code.codeHash, NOW, grant, issue)).outcome).toBe('redeemed');
      expect(await countRows(store, 'refresh_tokens')).toBe(0);
      expect(await accessTokenRow(store, issue.accessToken.jti)).toBeDefined();
    });

    it('of concurrent redemptions on separate connections, exactly one wins', async () => {
      const stores = await peers();
      const { code, grant } = authorization();
      await store.tokens.insertCode(code);

      const results = await race(stores, RACERS, (s, i) =>
        // Every caller brings its own grant id and tokens, as separate token requests would.
        s.tokens.redeemCode(code.codeHash, NOW + i, { ...grant, id: `${grant.id}-${i}` }, issueFor({ ...grant, id: `${grant.id}-${i}` })),
      );

      const winners = results.filter((r) => r.outcome === 'redeemed');
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'already_consumed')).toHaveLength(RACERS - 1);
      const consumedAt = (await store.tokens.findCode(code.codeHash))?.consumedAt;
      for (const r of results) if (r.outcome !== 'not_found') expect(r.record.consumedAt).toBe(consumedAt);
      expect(await countRows(store, 'grants')).toBe(1);
      expect(await countRows(store, 'refresh_tokens')).toBe(1);
      expect(await countRows(store, 'access_tokens')).toBe(1);
    });
  });

  describe('refresh tokens', () => {
    async function redeemed(now = NOW) {
      const { code, grant } = authorization({ now });
      await store.tokens.insertCode(code);
      const issue = issueFor(grant, now);
      await store.tokens.redeemCode(code.codeHash, now, grant, issue);
      return { grant, token: issue.refreshToken! };
    }

    it('rotation consumes the token, stores its successor and extends the grant', async () => {
      const { grant, token } = await redeemed();
      const later = NOW + 10 * DAY;
      const next = issueFor(grant, later);

      const rotated = await store.tokens.rotateRefreshToken(token.tokenHash, later, next);
      expect(rotated).toEqual({ outcome: 'redeemed', record: { ...token, consumedAt: later } });
      const successor = await store.tokens.findRefreshToken(next.refreshToken!.tokenHash);
      expect(successor?.token).toEqual(next.refreshToken);
      expect(successor?.grant.expiresAt).toBe(next.refreshToken!.expiresAt);
      expect((await store.tokens.getGrant(grant.id))?.expiresAt).toBe(later + 30 * DAY);
      expect(await accessTokenRow(store, next.accessToken.jti)).toBeDefined();
      expect((await store.tokens.findRefreshToken(token.tokenHash))?.token.consumedAt).toBe(later);

      const replay = issueFor(grant, later + 1);
      expect(await store.tokens.rotateRefreshToken(token.tokenHash, later + 1, replay)).toEqual({
        outcome: 'already_consumed',
        record: { ...token, consumedAt: later },
      });
      expect(await store.tokens.findRefreshToken(replay.refreshToken!.tokenHash)).toBeUndefined();
      expect(await accessTokenRow(store, replay.accessToken.jti)).toBeUndefined();
    });

    it('rotation never shortens the grant', async () => {
      const { grant, token } = await redeemed();
      const next = issueFor(grant, NOW + HOUR);
      next.refreshToken!.expiresAt = NOW + DAY; // shorter than the grant's 30 days
      expect((await store.tokens.rotateRefreshToken(token.tokenHash, NOW + HOUR, next)).outcome).toBe('redeemed');
      expect((await store.tokens.getGrant(grant.id))?.expiresAt).toBe(grant.expiresAt);
    });

    it('an unknown token is not found', async () => {
      const grant = grantRecord();
      expect(await store.tokens.rotateRefreshToken('missing', NOW, issueFor(grant))).toEqual({ outcome: 'not_found' });
      expect(await store.tokens.findRefreshToken('missing')).toBeUndefined();
      expect(await countRows(store, 'refresh_tokens')).toBe(0);
    });

    it('of concurrent rotations on separate connections, exactly one wins', async () => {
      const stores = await peers();
      const { grant, token } = await redeemed();
      const issues = Array.from({ length: RACERS }, () => issueFor(grant, NOW + HOUR));

      const results = await race(stores, RACERS, (s, i) => s.tokens.rotateRefreshToken(token.tokenHash, NOW + HOUR + i, issues[i]!));

      expect(results.filter((r) => r.outcome === 'redeemed')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'already_consumed')).toHaveLength(RACERS - 1);
      const winner = results.findIndex((r) => r.outcome === 'redeemed');
      for (const [i, issue] of issues.entries()) {
        const stored = await store.tokens.findRefreshToken(issue.refreshToken!.tokenHash);
        expect(stored === undefined).toBe(i !== winner);
      }
      // The original token and its one successor.
      expect(await countRows(store, 'refresh_tokens')).toBe(2);
      // The code's access token and the winner's.
      expect(await countRows(store, 'access_tokens')).toBe(2);
    });
  });

  describe('grants and access tokens', () => {
    async function redeemed() {
      const { code, grant } = authorization();
      await store.tokens.insertCode(code);
      const issue = issueFor(grant);
      await store.tokens.redeemCode(code.codeHash, NOW, grant, issue);
      return { grant, issue };
    }

    it('revoking a grant marks it and deletes its refresh tokens; its access tokens are revoked', async () => {
      const { grant, issue } = await redeemed();
      const other = await redeemed();

      await store.tokens.revokeGrant(grant.id, NOW + MINUTE);
      expect(await store.tokens.getGrant(grant.id)).toEqual({ ...grant, revokedAt: NOW + MINUTE });
      expect(await store.tokens.findRefreshToken(issue.refreshToken!.tokenHash)).toBeUndefined();
      expect(await store.tokens.rotateRefreshToken(issue.refreshToken!.tokenHash, NOW + 2 * MINUTE, issueFor(grant))).toEqual({ outcome: 'not_found' });
      expect(await store.tokens.accessTokenState(issue.accessToken.jti)).toEqual({ revoked: true });

      // A second revocation keeps the first time.
      await store.tokens.revokeGrant(grant.id, NOW + HOUR);
      expect((await store.tokens.getGrant(grant.id))?.revokedAt).toBe(NOW + MINUTE);

      expect(await store.tokens.getGrant(other.grant.id)).toEqual(other.grant);
      expect(await store.tokens.findRefreshToken(other.issue.refreshToken!.tokenHash)).toBeDefined();
      expect(await store.tokens.accessTokenState(other.issue.accessToken.jti)).toEqual({ revoked: false });
    });

    it('an access token is revoked by itself, recorded or not', async () => {
      const { issue } = await redeemed();
      await store.tokens.revokeAccessToken(issue.accessToken, NOW + MINUTE);
      expect(await store.tokens.accessTokenState(issue.accessToken.jti)).toEqual({ revoked: true });
      expect((await accessTokenRow(store, issue.accessToken.jti))?.revoked_at).toBe(NOW + MINUTE);

      // Client credentials tokens are never recorded when issued.
      const unrecorded = accessTokenRecord({ grantId: null });
      expect(await store.tokens.accessTokenState(unrecorded.jti)).toEqual({ revoked: false });
      await store.tokens.revokeAccessToken(unrecorded, NOW + MINUTE);
      expect(await store.tokens.accessTokenState(unrecorded.jti)).toEqual({ revoked: true });
      expect(await accessTokenRow(store, unrecorded.jti)).toEqual({
        jti: unrecorded.jti,
        grant_id: null,
        client_id: unrecorded.clientId,
        expires_at: unrecorded.expiresAt,
        revoked_at: NOW + MINUTE,
      });

      // Revoking twice is harmless.
      await store.tokens.revokeAccessToken(unrecorded, NOW + HOUR);
      expect(await store.tokens.accessTokenState(unrecorded.jti)).toEqual({ revoked: true });
    });

    it('an access token is good while its grant is, and unknown tokens are not revoked', async () => {
      const { issue } = await redeemed();
      expect(await store.tokens.accessTokenState(issue.accessToken.jti)).toEqual({ revoked: false });
      expect(await store.tokens.accessTokenState('never-seen')).toEqual({ revoked: false });
    });

    it('revoking a user’s access for a client revokes every such grant and forgets the consent', async () => {
      const user = userRecord();
      const client = clientRecord();
      const otherClient = clientRecord();
      const a = authorization({ userId: user.id, clientId: client.id });
      const b = authorization({ userId: user.id, clientId: client.id });
      const c = authorization({ userId: user.id, clientId: otherClient.id });
      const issues = new Map<string, ReturnType<typeof issueFor>>();
      for (const auth of [a, b, c]) {
        await store.tokens.insertCode(auth.code);
        const issue = issueFor(auth.grant);
        issues.set(auth.grant.id, issue);
        await store.tokens.redeemCode(auth.code.codeHash, NOW, auth.grant, issue);
      }
      await store.consents.save(consentRecord({ userId: user.id, clientId: client.id }));
      await store.consents.save(consentRecord({ userId: user.id, clientId: otherClient.id }));

      await store.tokens.revokeUserClient(user.id, client.id, NOW + MINUTE);

      for (const auth of [a, b]) {
        expect((await store.tokens.getGrant(auth.grant.id))?.revokedAt).toBe(NOW + MINUTE);
        expect(await store.tokens.findRefreshToken(issues.get(auth.grant.id)!.refreshToken!.tokenHash)).toBeUndefined();
        expect(await store.tokens.accessTokenState(issues.get(auth.grant.id)!.accessToken.jti)).toEqual({ revoked: true });
      }
      expect(await store.consents.get(user.id, client.id, 'https://api.example.test')).toBeUndefined();

      expect(await store.tokens.getGrant(c.grant.id)).toEqual(c.grant);
      expect(await store.tokens.findRefreshToken(issues.get(c.grant.id)!.refreshToken!.tokenHash)).toBeDefined();
      expect(await store.consents.get(user.id, otherClient.id, 'https://api.example.test')).toBeDefined();
    });
  });

  describe('consents', () => {
    it('saving inserts, then updates scopes and time but keeps the creation time', async () => {
      const consent = consentRecord({ createdAt: NOW, updatedAt: NOW });
      await store.consents.save(consent);
      expect(await store.consents.get(consent.userId, consent.clientId, consent.resource)).toEqual(consent);

      await store.consents.save({ ...consent, scopes: ['read', 'write'], createdAt: NOW + HOUR, updatedAt: NOW + HOUR });
      expect(await store.consents.get(consent.userId, consent.clientId, consent.resource)).toEqual({
        ...consent,
        scopes: ['read', 'write'],
        updatedAt: NOW + HOUR,
      });
      expect(await countRows(store, 'consents')).toBe(1);
    });

    it('keeps one consent per resource and lists a user’s consents', async () => {
      const userId = uid('user');
      const clientId = uid('client');
      const first = consentRecord({ userId, clientId, resource: 'https://one.example.test', createdAt: NOW });
      const second = consentRecord({ userId, clientId, resource: 'https://two.example.test', createdAt: NOW + 1 });
      await store.consents.save(first);
      await store.consents.save(second);
      await store.consents.save(consentRecord({ clientId }));

      expect(await store.consents.get(userId, clientId, 'https://three.example.test')).toBeUndefined();
      expect(await store.consents.list(userId)).toEqual([first, second]);
      expect(await store.consents.list('nobody')).toEqual([]);
    });
  });

  describe('sessions and interactions', () => {
    it('a session is found until it expires, and can be deleted', async () => {
      const session = sessionRecord({ expiresAt: NOW + HOUR });
      await store.sessions.create(session);
      expect(await store.sessions.get(session.idHash, NOW)).toEqual(session);
      expect(await store.sessions.get(session.idHash, NOW + HOUR - 1)).toEqual(session);
      expect(await store.sessions.get(session.idHash, NOW + HOUR)).toBeUndefined();
      expect(await store.sessions.get(session.idHash, NOW + DAY)).toBeUndefined();
      expect(await store.sessions.get('missing', NOW)).toBeUndefined();

      await store.sessions.delete(session.idHash);
      expect(await store.sessions.get(session.idHash, NOW)).toBeUndefined();
    });

    it('an interaction is found until it expires, and taken once', async () => {
      const interaction = interactionRecord({ expiresAt: NOW + 10 * MINUTE });
      await store.interactions.create(interaction);
      expect(await store.interactions.get(interaction.id, NOW)).toEqual(interaction);
      expect(await store.interactions.get(interaction.id, NOW + 10 * MINUTE)).toBeUndefined();
      expect(await store.interactions.take(interaction.id, NOW + 10 * MINUTE)).toBeUndefined();

      expect(await store.interactions.take(interaction.id, NOW)).toEqual(interaction);
      expect(await store.interactions.take(interaction.id, NOW)).toBeUndefined();
      expect(await store.interactions.get(interaction.id, NOW)).toBeUndefined();
    });

    it('of concurrent takes on separate connections, exactly one gets the interaction', async () => {
      const stores = await peers();
      const interaction = interactionRecord();
      await store.interactions.create(interaction);

      const results = await race(stores, RACERS, (s) => s.interactions.take(interaction.id, NOW));
      const taken = results.filter((r) => r !== undefined);
      expect(taken).toEqual([interaction]);
      expect(await countRows(store, 'interactions')).toBe(0);
    });
  });

  describe('rate limits', () => {
    const countOf = async (key: string, now: number) => (await store.rateLimits.peek([key], now)).get(key)?.count ?? 0;
    const counted = async (key: string, window: number, now: number) => (await store.rateLimits.count(key, window, now)).count;

    it('counts events in a fixed window and restarts after it ends', async () => {
      const key = uid('login');
      const window = MINUTE;
      expect(await countOf(key, NOW)).toBe(0);
      expect(await store.rateLimits.count(key, window, NOW)).toEqual({ count: 1, windowEnd: NOW + window });
      expect(await counted(key, window, NOW + SECOND)).toBe(2);
      expect(await store.rateLimits.count(key, window, NOW + window - 1)).toEqual({ count: 3, windowEnd: NOW + window });
      expect(await countOf(key, NOW + window - 1)).toBe(3);
      expect(await counted(uid('other'), window, NOW)).toBe(1);

      // The window ends at NOW + window: the count starts over, with a new window from then.
      expect(await countOf(key, NOW + window)).toBe(0);
      expect(await store.rateLimits.count(key, window, NOW + window)).toEqual({ count: 1, windowEnd: NOW + 2 * window });
      expect(await counted(key, window, NOW + 2 * window - 1)).toBe(2);
      expect(await countOf(key, NOW + 2 * window - 1)).toBe(2);
      expect(await counted(key, window, NOW + 2 * window)).toBe(1);
    });

    it('peeks at several keys in one read, leaving out those with no open window', async () => {
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      await store.rateLimits.count(a, MINUTE, NOW);
      await store.rateLimits.count(b, SECOND, NOW - MINUTE);
      await store.rateLimits.count(b, SECOND, NOW - MINUTE);
      const windows = await store.rateLimits.peek([a, b, c], NOW);
      expect([...windows.entries()]).toEqual([[a, { count: 1, windowEnd: NOW + MINUTE }]]);
      expect(await store.rateLimits.peek([], NOW)).toEqual(new Map());
    });

    it('uncounting takes back one event and never goes below zero', async () => {
      const key = uid('login');
      await store.rateLimits.count(key, MINUTE, NOW);
      await store.rateLimits.count(key, MINUTE, NOW);
      await store.rateLimits.uncount(key);
      expect(await countOf(key, NOW)).toBe(1);
      await store.rateLimits.uncount(key);
      await store.rateLimits.uncount(key);
      expect(await countOf(key, NOW)).toBe(0);
      await store.rateLimits.uncount(uid('never-counted'));
      expect(await counted(key, MINUTE, NOW)).toBe(1);
    });

    it('clearing forgets the count', async () => {
      const key = uid('login');
      await store.rateLimits.count(key, MINUTE, NOW);
      await store.rateLimits.count(key, MINUTE, NOW);
      await store.rateLimits.clear(key);
      expect(await countOf(key, NOW)).toBe(0);
      expect(await counted(key, MINUTE, NOW)).toBe(1);
    });

    it('concurrent events on separate connections are each counted once', async () => {
      const stores = await peers();
      const key = uid('login');
      const counts = await race(stores, RACERS, async (s) => (await s.rateLimits.count(key, MINUTE, NOW)).count);
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: RACERS }, (_, i) => i + 1));
      expect(await countOf(key, NOW)).toBe(RACERS);
    });
  });

  describe('audit events', () => {
    it('lists newest first, by type and from a time on, at most the limit', async () => {
      const type = 'client.secret_rotated' as const;
      const since = NOW + 1000 * DAY + uid('t').length; // a time no other test writes at
      const older = auditEvent({ type, at: since - SECOND, actor: 'cli', clientId: uid('client'), userId: null, ip: null, detail: { grace_seconds: 0 } });
      const first = auditEvent({ type, at: since, actor: 'api_key:ak_1', clientId: uid('client'), userId: null, detail: { grace_seconds: 60 } });
      const second = auditEvent({ type, at: since + SECOND, actor: 'api_key:ak_2', clientId: uid('client'), userId: null });
      const otherType = auditEvent({ type: 'key.rotated', at: since + 2 * SECOND, userId: null, detail: { kid: 'k1' } });
      for (const e of [first, older, otherType, second]) await store.audit.record(e);

      expect(await store.audit.list({ type, since, limit: 10 })).toEqual([second, first]);
      expect(await store.audit.list({ type, since, limit: 1 })).toEqual([second]);
      expect(await store.audit.list({ since, limit: 10 })).toEqual([otherType, second, first]);
      expect((await store.audit.list({ type, limit: 1000 })).filter((e) => [older, first, second].some((x) => x.id === e.id))).toEqual([second, first, older]);
    });
  });

  describe('locks', () => {
    // Leases run on the database's clock, so these tests wait real time for the short ones to run out.
    it('one owner holds a lease, with fence 1, until it is released or runs out', async () => {
      const name = uid('lock');
      const a = await store.locks.acquire(name, 'a', LONG_LEASE_MS);
      expect(a).toEqual({ name, owner: 'a', fence: 1 });
      expect(await store.locks.acquire(name, 'b', LONG_LEASE_MS)).toBeUndefined();
      // Not even its holder acquires it twice: holding on is what renew is for.
      expect(await store.locks.acquire(name, 'a', LONG_LEASE_MS)).toBeUndefined();
      expect(await store.locks.isHeld(a!)).toBe(true);
      // Other names are independent.
      const other = uid('lock');
      expect(await store.locks.acquire(other, 'b', LONG_LEASE_MS)).toEqual({ name: other, owner: 'b', fence: 1 });

      // Another owner's release, or a release with another fence, does nothing.
      await store.locks.release({ ...a!, owner: 'b' });
      await store.locks.release({ ...a!, fence: 2 });
      expect(await store.locks.acquire(name, 'b', LONG_LEASE_MS)).toBeUndefined();
      expect(await store.locks.isHeld(a!)).toBe(true);
    });

    it('the holder renews its lease beyond its first end', async () => {
      const name = uid('lock');
      const a = (await store.locks.acquire(name, 'a', SHORT_LEASE_MS))!;
      expect(await store.locks.renew(a, LONG_LEASE_MS)).toBe(true);
      await outlastShortLease();
      expect(await store.locks.acquire(name, 'b', LONG_LEASE_MS)).toBeUndefined();
      expect(await store.locks.isHeld(a)).toBe(true);
    });

    it('a lease that ran out is taken over with a larger fence, and the stale lease no longer counts', async () => {
      const name = uid('lock');
      const stale = (await store.locks.acquire(name, 'a', SHORT_LEASE_MS))!;
      await outlastShortLease();
      const taken = await store.locks.acquire(name, 'b', LONG_LEASE_MS);
      expect(taken).toEqual({ name, owner: 'b', fence: 2 });

      expect(await store.locks.renew(stale, LONG_LEASE_MS)).toBe(false);
      expect(await store.locks.isHeld(stale)).toBe(false);
      // The stale holder's release does not free the new holder's lock.
      await store.locks.release(stale);
      expect(await store.locks.isHeld(taken!)).toBe(true);
      expect(await store.locks.acquire(name, 'a', LONG_LEASE_MS)).toBeUndefined();
    });

    it('an owner that takes its own lapsed lock again gets a new fence, and its old lease is stale', async () => {
      // One process keeps one owner name for all its leases: the fence alone tells them apart.
      const name = uid('lock');
      const old = (await store.locks.acquire(name, 'a', SHORT_LEASE_MS))!;
      await outlastShortLease();
      const again = (await store.locks.acquire(name, 'a', LONG_LEASE_MS))!;
      expect(again.fence).toBe(2);
      expect(await store.locks.isHeld(old)).toBe(false);
      expect(await store.locks.renew(old, LONG_LEASE_MS)).toBe(false);
      await store.locks.release(old);
      expect(await store.locks.acquire(name, 'b', LONG_LEASE_MS)).toBeUndefined();
      expect(await store.locks.isHeld(again)).toBe(true);
    });

    it('a lapsed lease nobody took over is still held and can be renewed', async () => {
      const name = uid('lock');
      const a = (await store.locks.acquire(name, 'a', SHORT_LEASE_MS))!;
      await outlastShortLease();
      expect(await store.locks.isHeld(a)).toBe(true);
      expect(await store.locks.renew(a, LONG_LEASE_MS)).toBe(true);
      expect(await store.locks.acquire(name, 'b', LONG_LEASE_MS)).toBeUndefined();
    });

    it('a released lock is acquired again at once, each time with a larger fence', async () => {
      const name = uid('lock');
      const a = (await store.locks.acquire(name, 'a', LONG_LEASE_MS))!;
      await store.locks.release(a);
      const b = await store.locks.acquire(name, 'b', LONG_LEASE_MS);
      expect(b).toEqual({ name, owner: 'b', fence: 2 });
      await store.locks.release(b!);
      expect(await store.locks.acquire(name, 'a', LONG_LEASE_MS)).toEqual({ name, owner: 'a', fence: 3 });
    });

    it('of concurrent owners on separate connections, exactly one wins each round', async () => {
      const stores = await peers();
      const name = uid('lock');
      const owners = Array.from({ length: RACERS }, (_, i) => `owner-${i}`);

      const first = await race(stores, RACERS, (s, i) => s.locks.acquire(name, owners[i]!, LONG_LEASE_MS));
      const winners = first.filter((lease) => lease !== undefined);
      expect(winners).toHaveLength(1);
      const holder = winners[0]!;
      expect(holder.fence).toBe(1);

      // While the lease is live, nobody else gets it, and the holder keeps it.
      const live = await race(stores, RACERS, (s, i) => s.locks.acquire(name, owners[i]!, LONG_LEASE_MS));
      expect(live.filter((lease) => lease !== undefined)).toEqual([]);
      expect(await store.locks.isHeld(holder)).toBe(true);

      // The holder shortens its lease; once that ran out, exactly one takes it over.
      expect(await store.locks.renew(holder, SHORT_LEASE_MS)).toBe(true);
      await outlastShortLease();
      const takeover = await race(stores, RACERS, (s, i) => s.locks.acquire(name, owners[i]!, LONG_LEASE_MS));
      const next = takeover.filter((lease) => lease !== undefined);
      expect(next).toHaveLength(1);
      expect(next[0]!.fence).toBe(2);
      expect(await store.locks.isHeld(holder)).toBe(false);
    });
  });

  describe('across processes', () => {
    it('of single-use things raced for by separate processes, exactly one caller wins each', async () => {
      const PROCESSES = 4;
      const CALLS_EACH = 3; // per process and per thing
      const racers = PROCESSES * CALLS_EACH;

      const code = authorization();
      await store.tokens.insertCode(code.code);
      const refresh = authorization();
      await store.tokens.insertCode(refresh.code);
      const refreshIssue = issueFor(refresh.grant);
      await store.tokens.redeemCode(refresh.code.codeHash, NOW, refresh.grant, refreshIssue);
      const interaction = interactionRecord();
      await store.interactions.create(interaction);
      const lock = uid('lock');

      const things = ['code', 'refresh', 'interaction', 'lock'] as const;
      const call = (thing: (typeof things)[number], i: number): Call => {
        switch (thing) {
          case 'code': {
            const grant = { ...code.grant, id: `${code.grant.id}-${i}` };
            return { area: 'tokens', method: 'redeemCode', args: [code.code.codeHash, NOW + i, grant, issueFor(grant)] };
          }
          case 'refresh':
            return { area: 'tokens', method: 'rotateRefreshToken', args: [refreshIssue.refreshToken!.tokenHash, NOW + HOUR + i, issueFor(refresh.grant, NOW + HOUR)] };
          case 'interaction':
            return { area: 'interactions', method: 'take', args: [interaction.id, NOW] };
          case 'lock':
            return { area: 'locks', method: 'acquire', args: [lock, `owner-${i}`, LONG_LEASE_MS] };
        }
      };
      // Every process races for every thing, CALLS_EACH times, all at once.
      const perProcess = Array.from({ length: PROCESSES }, (_, p) =>
        things.flatMap((thing) => Array.from({ length: CALLS_EACH }, (_, c) => call(thing, p * CALLS_EACH + c))),
      );
      const results = await raceInProcesses(harness.database.url, perProcess);
      const resultsFor = (thing: (typeof things)[number]) =>
        results.flatMap((answers) => answers.slice(things.indexOf(thing) * CALLS_EACH, (things.indexOf(thing) + 1) * CALLS_EACH));

      for (const thing of ['code', 'refresh'] as const) {
        const outcomes = (resultsFor(thing) as { outcome: string }[]).map((r) => r.outcome);
        expect(outcomes.filter((o) => o === 'redeemed'), thing).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'already_consumed'), thing).toHaveLength(racers - 1);
      }
      // A process sends `undefined` as null.
      expect(resultsFor('interaction').filter((r) => r !== null)).toEqual([interaction]);
      expect(resultsFor('lock').filter((r) => r !== null)).toEqual([{ name: lock, owner: expect.stringMatching(/^owner-/), fence: 1 }]);

      // Two codes' grants, each with its access token, and one refresh token rotated once.
      expect(await countRows(store, 'grants')).toBe(2);
      expect(await countRows(store, 'access_tokens')).toBe(3);
      expect(await countRows(store, 'refresh_tokens')).toBe(3);
    }, 90_000); // Starting four Node processes that transpile the store is slow on a busy machine.
  });

  describe('purgeExpired', () => {
    const retention: PurgeRetention = { signingKeysMs: 7 * DAY, consumedCodesMs: DAY, deliveryLogMs: 3 * DAY, auditMs: 90 * DAY, refreshReissueMs: MINUTE };

    it('deletes what has expired and keeps what is live', async () => {
      const t = NOW + 100 * DAY; // the purge time
      const past = t - 1;
      const future = t + HOUR;

      // Codes: kept for consumedCodesMs after expiry.
      const liveCode = codeRecord({ expiresAt: future });
      const recentlyExpiredConsumed = codeRecord({ expiresAt: t - HOUR, consumedAt: t - 2 * HOUR });
      const oldConsumed = codeRecord({ expiresAt: t - retention.consumedCodesMs - 1, consumedAt: t - 2 * DAY });
      for (const c of [liveCode, recentlyExpiredConsumed, oldConsumed]) await store.tokens.insertCode(c);

      // Grants with refresh and access tokens, one live and one expired.
      const liveGrant = grantRecord({ expiresAt: future });
      const deadGrant = grantRecord({ expiresAt: past });
      // Its sealed reissue is older than the grace window's retention: only that is cleared.
      const liveRefresh = refreshTokenRecord({ grantId: liveGrant.id, clientId: liveGrant.clientId, expiresAt: future, reissueSealed: 'v1.k.sealed' });
      const deadRefresh = refreshTokenRecord({ grantId: deadGrant.id, clientId: deadGrant.clientId, expiresAt: past });
      const liveAccess = accessTokenRecord({ grantId: liveGrant.id, clientId: liveGrant.clientId, expiresAt: future });
      const deadAccess = accessTokenRecord({ grantId: deadGrant.id, clientId: deadGrant.clientId, expiresAt: past });
      for (const [g, r, a] of [
        [liveGrant, liveRefresh, liveAccess],
        [deadGrant, deadRefresh, deadAccess],
      ] as const) {
        const code = codeRecord({ grantId: g.id, clientId: g.clientId, userId: g.userId!, expiresAt: future });
        await store.tokens.insertCode(code);
        await store.tokens.redeemCode(code.codeHash, t - DAY, g, { refreshToken: r, accessToken: a });
      }
      // Revoked access tokens that expired are no longer worth remembering either.
      const deadRevoked = accessTokenRecord({ grantId: null, expiresAt: t });
      const liveRevoked = accessTokenRecord({ grantId: null, expiresAt: future });
      await store.tokens.revokeAccessToken(deadRevoked, t - HOUR);
      await store.tokens.revokeAccessToken(liveRevoked, t - HOUR);

      const liveSession = sessionRecord({ expiresAt: future });
      await store.sessions.create(liveSession);
      await store.sessions.create(sessionRecord({ expiresAt: t }));
      const liveInteraction = interactionRecord({ expiresAt: future });
      await store.interactions.create(liveInteraction);
      await store.interactions.create(interactionRecord({ expiresAt: past }));

      const recentEvent = auditEvent({ at: t - DAY });
      await store.audit.record(recentEvent);
      await store.audit.record(auditEvent({ at: t - retention.auditMs }));

      const liveKey = uid('rate');
      await store.rateLimits.count(liveKey, HOUR, t - MINUTE);
      await store.rateLimits.count(uid('rate'), MINUTE, t - MINUTE);

      // Signing keys: active forever; retired ones published for signingKeysMs.
      const oldRetired = signingKeyRecord({ createdAt: t - 30 * DAY });
      const recentRetired = signingKeyRecord({ createdAt: t - 20 * DAY });
      const active = signingKeyRecord({ createdAt: t - DAY });
      await store.signingKeys.insertFirst(oldRetired);
      await store.signingKeys.rotate(recentRetired, t - retention.signingKeysMs - 1);
      await store.signingKeys.rotate(active, t - DAY);

      // The broker's authorization requests, and its delivery log: kept for deliveryLogMs once done.
      const liveState = oauthStateRecord({ expiresAt: future });
      await store.oauthStates.create(liveState);
      await store.oauthStates.create(oauthStateRecord({ expiresAt: t }));
      const webhook = webhookRecord();
      await store.webhooks.create(webhook);
      const old = t - retention.deliveryLogMs;
      const recentDelivered = deliveryRecord({ webhookId: webhook.id, status: 'delivered', createdAt: t - HOUR, deliveredAt: t - HOUR });
      const oldPending = deliveryRecord({ webhookId: webhook.id, createdAt: old - DAY, nextAttemptAt: future });
      await store.webhooks.enqueue([
        deliveryRecord({ webhookId: webhook.id, status: 'delivered', createdAt: old, deliveredAt: old }),
        deliveryRecord({ webhookId: webhook.id, status: 'failed', createdAt: old - DAY, attempts: 20, nextAttemptAt: null }),
        recentDelivered,
        oldPending,
      ]);

      const counts = await store.purgeExpired(t, retention);

      expect(counts).toEqual({
        codes: 1,
        refreshTokens: 1,
        accessTokens: 2,
        grants: 1,
        sessions: 1,
        interactions: 1,
        rateLimits: 1,
        signingKeys: 1,
        // Locks run on the database's clock, which is later than t: none has run out (see below).
        locks: 0,
        oauthStates: 1,
        webhookDeliveries: 2,
        auditEvents: 1,
        refreshReissues: 1,
      });

      expect(await store.tokens.findCode(liveCode.codeHash)).toEqual(liveCode);
      expect(await store.tokens.findCode(recentlyExpiredConsumed.codeHash)).toEqual(recentlyExpiredConsumed);
      expect(await store.tokens.findCode(oldConsumed.codeHash)).toBeUndefined();
      expect(await countRows(store, 'authorization_codes')).toBe(4);

      expect(await store.tokens.getGrant(liveGrant.id)).toEqual(liveGrant);
      expect(await store.tokens.getGrant(deadGrant.id)).toBeUndefined();
      expect(await store.tokens.findRefreshToken(liveRefresh.tokenHash)).toEqual({ token: { ...liveRefresh, reissueSealed: null }, grant: liveGrant });
      expect(await store.audit.list({ limit: 10 })).toEqual([recentEvent]);
      expect(await countRows(store, 'refresh_tokens')).toBe(1);
      expect(await accessTokenRow(store, liveAccess.jti)).toBeDefined();
      expect(await accessTokenRow(store, deadAccess.jti)).toBeUndefined();
      expect(await accessTokenRow(store, deadRevoked.jti)).toBeUndefined();
      expect(await store.tokens.accessTokenState(liveRevoked.jti)).toEqual({ revoked: true });
      expect(await countRows(store, 'access_tokens')).toBe(2);

      expect(await store.sessions.get(liveSession.idHash, t)).toEqual(liveSession);
      expect(await countRows(store, 'sessions')).toBe(1);
      expect(await store.interactions.get(liveInteraction.id, t)).toEqual(liveInteraction);
      expect(await countRows(store, 'interactions')).toBe(1);
      expect((await store.rateLimits.peek([liveKey], t)).get(liveKey)?.count).toBe(1);
      expect(await countRows(store, 'rate_limits')).toBe(1);

      expect((await store.signingKeys.list()).map((k) => k.kid)).toEqual([recentRetired.kid, active.kid]);
      expect(await store.oauthStates.get(liveState.stateHash)).toEqual(liveState);
      expect(await countRows(store, 'oauth_states')).toBe(1);
      // A pending delivery stays however old: it is still to be made.
      expect(await store.webhooks.deliveries(webhook.id, 10)).toEqual([recentDelivered, oldPending]);

      // Purging again finds nothing more; later, the retention of the recent ones runs out too.
      expect(Object.values(await store.purgeExpired(t, retention)).every((n) => n === 0)).toBe(true);
      const muchLater = await store.purgeExpired(t + 30 * DAY, retention);
      expect(muchLater.codes).toBe(4);
      expect(muchLater.signingKeys).toBe(1);
      expect(muchLater.oauthStates).toBe(1);
      expect(muchLater.webhookDeliveries).toBe(1);
      expect((await store.signingKeys.list()).map((k) => k.kid)).toEqual([active.kid]);
      expect(await store.webhooks.deliveries(webhook.id, 10)).toEqual([oldPending]);
    });

    it('keeps lapsed and released lock rows for an hour, so that fences go on growing', async () => {
      // Leases run on the database's clock, so this purge runs at the real time.
      const lapsed = (await store.locks.acquire(uid('lock'), 'a', SHORT_LEASE_MS))!;
      const released = (await store.locks.acquire(uid('lock'), 'a', LONG_LEASE_MS))!;
      await store.locks.release(released);
      const live = (await store.locks.acquire(uid('lock'), 'a', 2 * HOUR))!;
      await outlastShortLease();

      expect((await store.purgeExpired(Date.now(), retention)).locks).toBe(0);
      expect(await store.locks.acquire(lapsed.name, 'b', SHORT_LEASE_MS)).toEqual({ name: lapsed.name, owner: 'b', fence: 2 });
      expect(await store.locks.acquire(released.name, 'b', SHORT_LEASE_MS)).toEqual({ name: released.name, owner: 'b', fence: 2 });

      expect((await store.purgeExpired(Date.now() + HOUR + MINUTE, retention)).locks).toBe(2);
      expect(await store.locks.isHeld(live)).toBe(true);
      expect(await countRows(store, 'locks')).toBe(1);
    });

    it('an active signing key is never purged, however old', async () => {
      const key = signingKeyRecord({ createdAt: NOW });
      await store.signingKeys.insertFirst(key);
      expect((await store.purgeExpired(NOW + 1000 * DAY, retention)).signingKeys).toBe(0);
      expect(await store.signingKeys.list()).toEqual([key]);
    });
  });
});
