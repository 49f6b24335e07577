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
    expires_at: number;
  };
}
