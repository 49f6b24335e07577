import { catalogEntry, fillTemplate } from './catalog/catalog.js';
import type { ProviderRecord } from '../store/records.js';

/** Where in a token response each value is (dot paths), and how success is told apart from failure. */
export interface TokenResponseShape {
  accessTokenPath: string;
  refreshTokenPath: string;
  expiresInPath: string;
  scopePath: string;
  tokenTypePath: string;
  errorPath: string;
  successFlagPath: string | undefined;
}

/** How tokens of a provider expire: with a stated lifetime, never, or at a time the provider keeps to itself. */
export type ExpiryMode = 'expires_in' | 'never' | 'unreported';

/** A registered provider with the quirks of its catalog entry: everything a call to it needs. */
export interface ProviderSettings {
  record: ProviderRecord;
  shape: TokenResponseShape;
  expiry: ExpiryMode;
  /** Non-secret values of the token response kept with the connection (e.g. Salesforce's instance_url). */
  connectionFields: string[];
  identity: { idPath: string; emailPath: string } | undefined;
  /** Placeholders its URLs need from each connection (e.g. a Shopify shop). */
  connectionVariables: string[];
}

const STANDARD_SHAPE: TokenResponseShape = {
  accessTokenPath: 'access_token',
  refreshTokenPath: 'refresh_token',
  expiresInPath: 'expires_in',
  scopePath: 'scope',
  tokenTypePath: 'token_type',
  errorPath: 'error',
  successFlagPath: undefined,
};

const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)\}/gi;

/** The `{placeholders}` of the provider's URLs that its registration does not fix. */
function openVariables(record: ProviderRecord): string[] {
  const urls = [record.authorizeUrl, record.tokenUrl, record.revokeUrl, record.userinfoUrl].filter((u): u is string => u !== null);
  const names = new Set(urls.flatMap((u) => [...u.matchAll(PLACEHOLDER)].map((m) => m[1]!)));
  return [...names].filter((n) => !(n in record.templateValues));
}

export function providerSettings(record: ProviderRecord): ProviderSettings {
  const entry = record.catalogName ? catalogEntry(record.catalogName) : undefined;
  const response = entry?.token_response;
  return {
    record,
    shape: {
      accessTokenPath: response?.access_token_path ?? STANDARD_SHAPE.accessTokenPath,
      refreshTokenPath: response?.refresh_token_path ?? STANDARD_SHAPE.refreshTokenPath,
      expiresInPath: response?.expires_in_path ?? STANDARD_SHAPE.expiresInPath,
      scopePath: response?.scope_path ?? STANDARD_SHAPE.scopePath,
      tokenTypePath: response?.token_type_path ?? STANDARD_SHAPE.tokenTypePath,
      errorPath: response?.error_path ?? STANDARD_SHAPE.errorPath,
      successFlagPath: response?.success_flag_path,
    },
    expiry: entry?.expiry ?? 'expires_in',
    connectionFields: entry?.connection_fields ?? [],
    identity: entry?.identity ? { idPath: entry.identity.id_path ?? 'sub', emailPath: entry.identity.email_path ?? 'email' } : { idPath: 'sub', emailPath: 'email' },
    connectionVariables: openVariables(record),
  };
}

/** A provider URL with its placeholders filled from the registration, then from the connection. */
export function providerUrl(settings: ProviderSettings, url: string, connectionConfig: Record<string, string>): string {
  return fillTemplate(url, { ...connectionConfig, ...settings.record.templateValues });
}

/** Reads a dot path (`authed_user.access_token`) of a parsed response. */
export function valueAt(body: unknown, path: string): unknown {
  let current: unknown = body;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}
