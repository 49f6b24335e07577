import { LatchkeyConnectionError, LatchkeyError, errorFromResponse } from './broker-errors.js';

/*
 * A thin client of the connection broker's REST API. Requests and answers keep the broker's wire
 * shapes (snake_case fields, ISO 8601 strings, ids as strings) so that what the docs and the broker's
 * JSON say is exactly what the code reads; only method options are camelCase.
 */

export type GrantType = 'authorization_code' | 'client_credentials';
export type ConnectionStatus = 'pending' | 'active' | 'needs_reauth';
export type WebhookEventType = 'connection.created' | 'connection.reauthorized' | 'connection.refresh_failed' | 'connection.revoked';
/** Non-secret values a connection carries, such as Salesforce's `instance_url`. */
export type ConnectionConfig = Record<string, string>;

/** A fresh access token, valid for at least the broker's refresh margin. */
export interface Credentials {
  access_token: string;
  token_type: string;
  /** ISO 8601; null when the provider gave no lifetime. */
  expires_at: string | null;
  expires_in: number | null;
  scopes: string[];
  connection_id: string;
  connection_config: ConnectionConfig;
}

export interface RegisterProviderRequest {
  /** A catalog name (`github`, `google`...) or any `[a-z0-9_-]{1,64}`. */
  provider_name: string;
  client_id: string;
  client_secret: string;
  app_id?: string;
  /** Defaults to `<issuer>/api/v1/credentials/auth/callback/<provider_name>`; used verbatim when given. */
  redirect_uri?: string;
  token_data?: {
    /** Optional for catalog providers and for `client_credentials`. */
    authorize_url?: string;
    /** Optional for catalog providers. */
    token_url?: string;
    scopes?: string[];
    revoke_url?: string;
    /** Defaults to a space. */
    scope_separator?: string;
    /** Defaults to true (S256). */
    pkce?: boolean;
    auth_method?: 'client_secret_basic' | 'client_secret_post';
    grant_type?: GrantType;
    authorization_params?: Record<string, string>;
    token_params?: Record<string, string>;
  };
}

export interface RegisterProviderResult {
  success: boolean;
  /** The same id when an existing `provider_name` (+ `app_id`) is registered again. */
  provider_id: string;
  message: string;
}

/** A registered provider; the broker never returns its client secret. */
export interface Provider {
  provider_id: string;
  provider_name: string;
  app_id: string | null;
  grant_type: GrantType;
  authorize_url: string | null;
  token_url: string;
  revoke_url: string | null;
  scopes: string[];
  redirect_uri: string | null;
  created_at: string;
  // Beyond the SPEC's list; optional so code does not rely on them.
  catalog?: string | null;
  client_id?: string;
  scope_separator?: string;
  pkce?: boolean;
  auth_method?: 'client_secret_basic' | 'client_secret_post';
  updated_at?: string;
}

export interface SuccessResult {
  success: boolean;
  message: string;
}

export interface Connection {
  id: string;
  /** Equals `provider_name` (kept for clients of the seed API). */
  provider_type: string;
  provider_name: string;
  user_id: string | null;
  app_id: string | null;
  status: ConnectionStatus;
  scopes: string[];
  created_at: string;
  updated_at: string;
  /** When the current access token expires; null when the provider gave no lifetime. */
  expires_at: string | null;
  // Beyond the SPEC's list; optional so code does not rely on them.
  account_id?: string | null;
  account_email?: string | null;
  connection_config?: ConnectionConfig;
}

/** A connection as the portal endpoints return it. */
export interface PortalConnection extends Connection {
  oauth2RedirectUrl: string | null;
}

export interface RevokeConnectionResult extends SuccessResult {
  /** False when the provider's revocation endpoint could not be reached; the connection is deleted anyway. */
  provider_revoked: boolean;
}

export interface AuthorizationUrl {
  /** `<issuer>/connect/<token>`: send the customer's browser there; valid 24 hours or until authorized. */
  authorizationURL: string;
}

export interface Webhook {
  id: string;
  url: string;
  events: WebhookEventType[];
  created_at: string;
}

/** The answer to creating a webhook: the only time the secret is shown. */
export interface CreatedWebhook extends Webhook {
  secret: string;
}

/** One event's delivery to one webhook, with its retries. */
export interface WebhookDelivery {
  id: string;
  /** The `id` of the event delivered (the body's `id`). */
  event_id: string;
  type: WebhookEventType;
  /** `pending` while attempts remain, `failed` once the broker gave up. */
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  /** The receiver's last HTTP status; null before the first answer or when it could not be reached. */
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

/** The JSON body of a webhook delivery (verify its `Latchkey-Signature` before parsing it). */
export interface WebhookEvent {
  id: string;
  type: WebhookEventType;
  created_at: string;
  data: { connection: Connection };
}

export interface LatchkeyOptions {
  /** The broker's base URL, e.g. `https://latchkey.example.com`; a path prefix is kept. */
  url: string;
  /** From `latchkey api-keys create`; sent as a bearer token on every call. */
  apiKey: string;
  /** Defaults to the global `fetch`; inject one for proxies or tests. */
  fetch?: typeof fetch;
  /** Per call, including reading the answer; defaults to 30000. */
  timeoutMs?: number;
}

export interface ConnectionKey {
  userId?: string;
  appId?: string;
}

export interface ConnectionFilter extends ConnectionKey {
  providerName?: string;
}

export interface CreateConnectionOptions extends ConnectionKey {
  providerName: string;
  connectionConfig?: ConnectionConfig;
}

export interface CreateWebhookOptions {
  url: string;
  /** Defaults to every event. */
  events?: WebhookEventType[];
  /** At least 16 characters; defaults to one the broker generates. */
  secret?: string;
}

type Query = Record<string, string | undefined>;

const DEFAULT_TIMEOUT_MS = 30_000;
const PROVIDERS = '/api/v1/credentials/oauth';
const PORTAL = '/api/v1/connections';
const WEBHOOKS = '/api/v1/webhooks';

/**
 * @example
 * const latchkey = new Latchkey({ url: 'https://latchkey.example.com', apiKey: process.env.LATCHKEY_API_KEY! });
 * const { access_token } = await latchkey.credentials('github', { userId: 'u_123' });
 */
export class Latchkey {
  readonly #base: string;
  /** What error messages name: the origin alone, never a path, query or key. */
  readonly #origin: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: LatchkeyOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError('Latchkey: url must be an absolute http(s) URL');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('Latchkey: url must be an absolute http(s) URL');
    if (base.username !== '' || base.password !== '') throw new TypeError('Latchkey: url must not contain credentials; pass apiKey');
    if (base.search !== '' || base.hash !== '') throw new TypeError('Latchkey: url must not have a query or fragment');
    if (typeof options.apiKey !== 'string' || options.apiKey === '') throw new TypeError('Latchkey: apiKey is required');
    // Checked here because fetch's own refusal of a bad header value quotes the value, key included.
    if (!/^[\x21-\x7E]+$/.test(options.apiKey)) throw new TypeError('Latchkey: apiKey must be printable ASCII without spaces');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('Latchkey: timeoutMs must be a positive number');
    this.#base = base.href.replace(/\/+$/, '');
    this.#origin = base.origin;
    // Private fields, so the key does not show in console.log(latchkey) or JSON.stringify.
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * A fresh access token for the connection (`provider`, `userId`, `appId`); absent ids mean null, as
   * on the broker. Throws `NeedsReauthError`, `ProviderUnavailableError` or `NotFoundError`.
   */
  async credentials(provider: string, opts: ConnectionKey = {}): Promise<Credentials> {
    return this.#request('GET', `${PROVIDERS}/connections/${segment(provider)}/token`, { query: keyQuery(opts) });
  }

  /** Every connection, or those matching each filter given. */
  async listConnections(filter: ConnectionFilter = {}): Promise<Connection[]> {
    return this.#request('GET', `${PROVIDERS}/connections`, {
      query: { ...keyQuery(filter), provider_name: filter.providerName },
    });
  }

  /** Revokes the tokens at the provider (when it can be reached) and deletes the connection. */
  async revokeConnection(provider: string, opts: ConnectionKey = {}): Promise<RevokeConnectionResult> {
    return this.#request('DELETE', `${PROVIDERS}/connections/${segment(provider)}`, { query: keyQuery(opts) });
  }

  /** Registers a provider, or updates the one with the same `provider_name` and `app_id`. */
  async registerProvider(body: RegisterProviderRequest): Promise<RegisterProviderResult> {
    return this.#request('POST', `${PROVIDERS}/register`, { body });
  }

  async listProviders(): Promise<Provider[]> {
    return this.#request('GET', `${PROVIDERS}/providers`);
  }

  /** Throws `ConflictError` (`provider_in_use`) while it has connections, unless `force` revokes them first. */
  async deleteProvider(providerId: string, opts: { force?: boolean } = {}): Promise<SuccessResult> {
    return this.#request('DELETE', `${PROVIDERS}/providers/${segment(providerId)}`, {
      query: { force: opts.force ? 'true' : undefined },
    });
  }

  /** A portal connection, `pending` until the customer authorizes at `authorizationUrl(id)`. */
  async createConnection(opts: CreateConnectionOptions): Promise<PortalConnection> {
    return this.#request('POST', PORTAL, {
      body: {
        provider_name: opts.providerName,
        user_id: opts.userId,
        app_id: opts.appId,
        connection_config: opts.connectionConfig,
      },
    });
  }

  async getConnection(id: string): Promise<PortalConnection> {
    return this.#request('GET', `${PORTAL}/${segment(id)}`);
  }

  /** Where the customer lands after consent (or with `error=access_denied` after a denial); null clears it. */
  async updateConnection(id: string, opts: { oauth2RedirectUrl: string | null }): Promise<PortalConnection> {
    return this.#request('PUT', `${PORTAL}/${segment(id)}`, {
      body: { http: { auth: { oauth: { oauth2RedirectUrl: opts.oauth2RedirectUrl } } } },
    });
  }

  async authorizationUrl(id: string): Promise<AuthorizationUrl> {
    return this.#request('GET', `${PORTAL}/${segment(id)}/oauth2`);
  }

  /** As `credentials`, by connection id; throws `PendingError` before the customer authorizes. */
  async connectionCredentials(id: string): Promise<Credentials> {
    return this.#request('GET', `${PORTAL}/${segment(id)}/token`);
  }

  /** The answer holds the signing secret, shown this once. */
  async createWebhook(opts: CreateWebhookOptions): Promise<CreatedWebhook> {
    return this.#request('POST', WEBHOOKS, { body: { url: opts.url, events: opts.events, secret: opts.secret } });
  }

  async listWebhooks(): Promise<Webhook[]> {
    return this.#request('GET', WEBHOOKS);
  }

  async deleteWebhook(id: string): Promise<SuccessResult> {
    return this.#request('DELETE', `${WEBHOOKS}/${segment(id)}`);
  }

  async webhookDeliveries(id: string): Promise<WebhookDelivery[]> {
    return this.#request('GET', `${WEBHOOKS}/${segment(id)}/deliveries`);
  }

  async #request<T>(method: string, path: string, opts: { query?: Query; body?: object } = {}): Promise<T> {
    const url = this.#base + path + queryString(opts.query);
    const headers: Record<string, string> = { authorization: `Bearer ${this.#apiKey}`, accept: 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let status: number;
    let text: string;
    // Called unbound: a fetch taken from a window refuses any other `this`.
    const fetchFn = this.#fetch;
    try {
      const response = await fetchFn(url, {
        method,
        headers,
        // JSON.stringify drops undefined members, so options not given are not sent.
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        // A redirect would carry the API key somewhere unexpected; it is refused below instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (cause) {
      throw connectionError(cause, this.#timeoutMs, this.#origin);
    }
    const body = parseJson(text);
    if (status < 200 || status >= 300) throw errorFromResponse(status, body);
    if (body === undefined && text !== '') {
      throw new LatchkeyError('unexpected_response', status, `Latchkey answered HTTP ${status} with a body that is not JSON`);
    }
    return body as T;
  }
}

function segment(value: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError('Latchkey: ids and provider names must be non-empty strings');
  return encodeURIComponent(value);
}

function keyQuery(key: ConnectionKey): Query {
  return { user_id: key.userId, app_id: key.appId };
}

/** Only the parameters given are sent: a filter or id that is absent is not the same as an empty one. */
function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.append(name, value);
  const encoded = params.toString();
  return encoded === '' ? '' : `?${encoded}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function connectionError(cause: unknown, timeoutMs: number, origin: string): LatchkeyConnectionError {
  if (cause instanceof DOMException && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) {
    return new LatchkeyConnectionError('timeout', `Latchkey at ${origin} did not answer within ${timeoutMs} ms`, { cause });
  }
  return new LatchkeyConnectionError('connection_failed', `could not reach Latchkey at ${origin}`, { cause });
}
