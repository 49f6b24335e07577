/**
 * The one registry of sealed columns: every value encrypted under the master key lives in one of
 * these, sealed with the context named here (table, row and purpose as additional data), so a value
 * copied into another row or column does not open. `latchkey secrets rotate` walks exactly this list.
 */
export const SEALED_COLUMNS = {
  'signing_keys.private_sealed': { table: 'signing_keys', key: 'kid', column: 'private_sealed', purpose: 'signing_key' },
  'providers.client_secret_sealed': { table: 'providers', key: 'id', column: 'client_secret_sealed', purpose: 'provider_client_secret' },
  'connections.access_token_sealed': { table: 'connections', key: 'id', column: 'access_token_sealed', purpose: 'connection_access_token' },
  'connections.refresh_token_sealed': { table: 'connections', key: 'id', column: 'refresh_token_sealed', purpose: 'connection_refresh_token' },
  'connections.portal_token_sealed': { table: 'connections', key: 'id', column: 'portal_token_sealed', purpose: 'connection_portal_token' },
  'oauth_states.code_verifier_sealed': { table: 'oauth_states', key: 'state_hash', column: 'code_verifier_sealed', purpose: 'oauth_state_code_verifier' },
  'webhooks.secret_sealed': { table: 'webhooks', key: 'id', column: 'secret_sealed', purpose: 'webhook_secret' },
  'refresh_tokens.reissue_sealed': { table: 'refresh_tokens', key: 'token_hash', column: 'reissue_sealed', purpose: 'refresh_reissue' },
} as const;

export type SealedColumn = keyof typeof SEALED_COLUMNS;

/** The additional data a value of `column` in row `key` is sealed with. */
export function sealContext(column: SealedColumn, key: string): string {
  // Signing keys keep the context they were first sealed with.
  if (column === 'signing_keys.private_sealed') return `signing_key:${key}`;
  return `${SEALED_COLUMNS[column].purpose}:${key}`;
}
