import type {
  ConnectionRecord,
  ConnectionSource,
  ConnectionStatus,
  OAuthStateRecord,
  ProviderRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from './records.js';

export interface ProviderStore {
  /** Inserts, or updates the provider of the same name and app keeping its id; says which. */
  upsert(provider: ProviderRecord): Promise<{ provider: ProviderRecord; created: boolean }>;
  get(id: string): Promise<ProviderRecord | undefined>;
  find(name: string, appId: string | null): Promise<ProviderRecord | undefined>;
  list(): Promise<ProviderRecord[]>;
  delete(id: string): Promise<boolean>;
}

export type ConnectionPatch = Partial<Omit<ConnectionRecord, 'id' | 'providerName' | 'userId' | 'appId' | 'createdAt'>>;

/** Each filter applies only when given; null matches connections without the value. */
export interface ConnectionFilter {
  providerId?: string;
  providerName?: string;
  userId?: string | null;
  appId?: string | null;
  sources?: ConnectionSource[];
  status?: ConnectionStatus;
}

export interface ConnectionStore {
  create(connection: ConnectionRecord): Promise<void>;
  get(id: string): Promise<ConnectionRecord | undefined>;
  find(providerName: string, userId: string | null, appId: string | null): Promise<ConnectionRecord | undefined>;
  findByPortalTokenHash(hash: string): Promise<ConnectionRecord | undefined>;
  list(filter: ConnectionFilter): Promise<ConnectionRecord[]>;
  update(id: string, patch: ConnectionPatch): Promise<ConnectionRecord | undefined>;
  delete(id: string): Promise<boolean>;
  /** Active connections whose refresh time has come and whose retry backoff has passed. */
  dueForRefresh(now: number, limit: number): Promise<ConnectionRecord[]>;
}

export interface OAuthStateStore {
  create(state: OAuthStateRecord): Promise<void>;
  get(stateHash: string): Promise<OAuthStateRecord | undefined>;
  /** Marks it used if it is unused and unexpired; undefined for every other caller. */
  consume(stateHash: string, now: number): Promise<OAuthStateRecord | undefined>;
}

export interface WebhookStore {
  create(webhook: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | undefined>;
  list(): Promise<WebhookRecord[]>;
  /** Deletes the webhook and its delivery log. */
  delete(id: string): Promise<boolean>;
  /** Adds deliveries to the outbox (call inside the transaction that made the change). */
  enqueue(deliveries: WebhookDeliveryRecord[]): Promise<void>;
  /** Newest first. */
  deliveries(webhookId: string, limit: number): Promise<WebhookDeliveryRecord[]>;
  /** Pending deliveries whose time has come, oldest first. */
  due(now: number, limit: number): Promise<WebhookDeliveryRecord[]>;
  recordAttempt(id: string, outcome: Pick<WebhookDeliveryRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastStatusCode' | 'lastError' | 'deliveredAt'>): Promise<void>;
}

/** One sealed value: which registered column, which row, and the value as stored. */
export interface SealedValue {
  column: string;
  key: string;
  sealed: string;
  /** The additional data it was sealed with, bound to its row. */
  context: string;
}

/** Every sealed column of the database, walked by `latchkey secrets rotate`. */
export interface SealedValueStore {
  /** Values of one registered column that are not sealed under `currentKid`. */
  stale(column: string, currentKid: string, limit: number): Promise<SealedValue[]>;
  /** Replaces a value only if it is still the one read, so a concurrent write is never undone. */
  replace(value: SealedValue, sealed: string): Promise<boolean>;
  columns(): readonly string[];
}

export interface BrokerStores {
  readonly providers: ProviderStore;
  readonly connections: ConnectionStore;
  readonly oauthStates: OAuthStateStore;
  readonly webhooks: WebhookStore;
  readonly sealedValues: SealedValueStore;
}
