/** Table shapes as Kysely sees them. Times are epoch milliseconds; flags are 0/1; lists are JSON text. */
export interface Database {
  apis: {
    id: string;
    identifier: string;
    name: string;
    scopes: string;
    is_default: number;
    created_at: number;
    updated_at: number;
  };
  clients: {
    id: string;
    name: string;
    secret_hash: string | null;
    is_public: number;
    auth_method: string | null;
    redirect_uris: string;
    grant_types: string;
    scopes: string;
    created_at: number;
    updated_at: number;
    previous_secret_hash: string | null;
    previous_secret_expires_at: number | null;
  };
  users: {
    id: string;
    username: string;
    password_hash: string;
    is_admin: number;
    created_at: number;
  };
  api_keys: {
    id: string;
    name: string;
    key_hash: string;
    created_at: number;
  };
  signing_keys: {
    kid: string;
    alg: string;
    public_jwk: string;
    private_sealed: string;
    created_at: number;
    retired_at: number | null;
  };
  grants: {
    id: string;
    client_id: string;
    user_id: string | null;
    scopes: string;
    resource: string;
    created_at: number;
    expires_at: number;
    revoked_at: number | null;
  };
  authorization_codes: {
    code_hash: string;
    grant_id: string;
    client_id: string;
    user_id: string;
    redirect_uri: string;
    scopes: string;
    resource: string;
    code_challenge: string | null;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
  };
  refresh_tokens: {
    token_hash: string;
    grant_id: string;
    client_id: string;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
    /** The access token issued with this refresh token, sealed, kept while a retry may ask for it again. */
    reissue_sealed: string | null;
  };
  access_tokens: {
    jti: string;
    grant_id: string | null;
    client_id: string;
    expires_at: number;
    revoked_at: number | null;
  };
  consents: {
    user_id: string;
    client_id: string;
    resource: string;
    scopes: string;
    created_at: number;
    updated_at: number;
  };
  sessions: {
    id_hash: string;
    user_id: string;
    created_at: number;
    expires_at: number;
  };
  interactions: {
    id: string;
    session_hash: string;
    request: string;
    created_at: number;
    expires_at: number;
  };
  rate_limits: {
    key: string;
    count: number;
    window_end: number;
  };
  locks: {
    name: string;
    owner: string;
    fence: number;
    expires_at: number;
  };
  providers: {
    id: string;
    name: string;
    /** '' when registered for the whole instance. */
    app_key: string;
    catalog_name: string | null;
    grant_type: string;
    client_id: string;
    client_secret_sealed: string;
    authorize_url: string | null;
    token_url: string;
    revoke_url: string | null;
    userinfo_url: string | null;
    issuer: string | null;
    iss_parameter_supported: number;
    scopes: string;
    scope_separator: string;
    pkce: number;
    auth_method: string;
    redirect_uri: string | null;
    authorization_params: string;
    token_params: string;
    template_values: string;
    created_at: number;
    updated_at: number;
  };
  connections: {
    id: string;
    provider_id: string;
    provider_name: string;
    /** '' for none: (provider_name, user_key, app_key) is unique. */
    user_key: string;
    app_key: string;
    source: string;
    status: string;
    scopes: string;
    access_token_sealed: string | null;
    refresh_token_sealed: string | null;
    token_type: string | null;
    expires_at: number | null;
    refresh_at: number | null;
    account_id: string | null;
    account_email: string | null;
    config: string;
    oauth2_redirect_url: string | null;
    portal_token_hash: string | null;
    portal_token_sealed: string | null;
    portal_expires_at: number | null;
    failure_count: number;
    next_attempt_at: number | null;
    last_error: string | null;
    authorized_at: number | null;
    created_at: number;
    updated_at: number;
  };
  oauth_states: {
    state_hash: string;
    provider_id: string;
    connection_id: string | null;
    user_id: string | null;
    app_id: string | null;
    return_to: string | null;
    code_verifier_sealed: string | null;
    binding_hash: string;
    config: string;
    created_at: number;
    expires_at: number;
    consumed_at: number | null;
  };
  webhooks: {
    id: string;
    url: string;
    events: string;
    secret_sealed: string;
    created_at: number;
  };
  webhook_deliveries: {
    id: string;
    webhook_id: string;
    event_id: string;
    event_type: string;
    payload: string;
    status: string;
    attempts: number;
    next_attempt_at: number | null;
    last_status_code: number | null;
    last_error: string | null;
    created_at: number;
    delivered_at: number | null;
  };
  audit_events: {
    id: string;
    type: string;
    at: number;
    actor: string;
    client_id: string | null;
    user_id: string | null;
    ip: string | null;
    /** JSON object. */
    detail: string;
  };
}
