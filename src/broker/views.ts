import { iso } from '../admin/context.js';
import type { ConnectionRecord, ProviderRecord, WebhookDeliveryRecord, WebhookRecord } from '../store/records.js';

/** The JSON shapes of the SPEC. Secrets never appear in any of them. */
export interface ConnectionView {
  id: string;
  /** The seed API's name for provider_name. */
  provider_type: string;
  provider_name: string;
  user_id: string | null;
  app_id: string | null;
  status: string;
  scopes: string[];
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  account_id: string | null;
  account_email: string | null;
  connection_config: Record<string, string>;
}

export const connectionView = (c: ConnectionRecord): ConnectionView => ({
  id: c.id,
  provider_type: c.providerName,
  provider_name: c.providerName,
  user_id: c.userId,
  app_id: c.appId,
  status: c.status,
  scopes: c.scopes,
  created_at: iso(c.createdAt)!,
  updated_at: iso(c.updatedAt)!,
  expires_at: iso(c.expiresAt),
  account_id: c.accountId,
  account_email: c.accountEmail,
  connection_config: c.config,
});

export const portalConnectionView = (c: ConnectionRecord) => ({ ...connectionView(c), oauth2RedirectUrl: c.oauth2RedirectUrl });

/** A provider URL with the placeholders its registration fixed filled in; those left to each connection stay. */
const shownUrl = (url: string | null, values: Record<string, string>) => url && url.replace(/\{([a-z_][a-z0-9_]*)\}/gi, (whole, name: string) => values[name] ?? whole);

export const providerView = (p: ProviderRecord, defaultRedirectUri: string) => ({
  provider_id: p.id,
  provider_name: p.name,
  app_id: p.appId,
  catalog: p.catalogName,
  grant_type: p.grantType,
  client_id: p.clientId,
  authorize_url: shownUrl(p.authorizeUrl, p.templateValues),
  token_url: shownUrl(p.tokenUrl, p.templateValues)!,
  revoke_url: shownUrl(p.revokeUrl, p.templateValues),
  scopes: p.scopes,
  scope_separator: p.scopeSeparator,
  pkce: p.pkce,
  auth_method: p.authMethod,
  redirect_uri: p.redirectUri ?? defaultRedirectUri,
  created_at: iso(p.createdAt)!,
  updated_at: iso(p.updatedAt)!,
});

export const webhookView = (w: WebhookRecord) => ({ id: w.id, url: w.url, events: w.events, created_at: iso(w.createdAt)! });

export const deliveryView = (d: WebhookDeliveryRecord) => ({
  id: d.id,
  event_id: d.eventId,
  type: d.eventType,
  status: d.status,
  attempts: d.attempts,
  next_attempt_at: iso(d.nextAttemptAt),
  last_status_code: d.lastStatusCode,
  last_error: d.lastError,
  created_at: iso(d.createdAt)!,
  delivered_at: iso(d.deliveredAt),
});
