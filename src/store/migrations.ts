import { type Kysely, type Migration, type MigrationProvider } from 'kysely';

/**
 * Migrations are code, written once with Kysely's schema builder, so the same steps run on SQLite and
 * PostgreSQL. Times are 64-bit integers (epoch ms) on both; `bigint` on PostgreSQL is read back as
 * a number by the pool's type parser.
 */
const initial: Migration = {
  async up(db: Kysely<unknown>) {
    const time = 'bigint' as const;
    await db.schema
      .createTable('apis')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('identifier', 'text', (c) => c.notNull().unique())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('updated_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text')
      .addColumn('is_public', 'integer', (c) => c.notNull())
      .addColumn('auth_method', 'text')
      .addColumn('redirect_uris', 'text', (c) => c.notNull())
      .addColumn('grant_types', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('updated_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('private_sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('retired_at', time)
      .execute();

    await db.schema
      .createTable('grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text')
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .addColumn('revoked_at', time)
      .execute();
    await db.schema.createIndex('grants_user_client').on('grants').columns(['user_id', 'client_id']).execute();
    await db.schema.createIndex('grants_client').on('grants').column('client_id').execute();
    await db.schema.createIndex('grants_expires').on('grants').column('expires_at').execute();

    await db.schema
      .createTable('authorization_codes')
      .addColumn('code_hash', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('redirect_uri', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('code_challenge', 'text')
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .addColumn('consumed_at', time)
      .execute();
    await db.schema.createIndex('codes_expires').on('authorization_codes').column('expires_at').execute();

    await db.schema
      .createTable('refresh_tokens')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .addColumn('consumed_at', time)
      .execute();
    await db.schema.createIndex('refresh_tokens_grant').on('refresh_tokens').column('grant_id').execute();
    await db.schema.createIndex('refresh_tokens_expires').on('refresh_tokens').column('expires_at').execute();

    await db.schema
      .createTable('access_tokens')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('grant_id', 'text')
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .addColumn('revoked_at', time)
      .execute();
    await db.schema.createIndex('access_tokens_expires').on('access_tokens').column('expires_at').execute();

    await db.schema
      .createTable('consents')
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('updated_at', time, (c) => c.notNull())
      .addPrimaryKeyConstraint('consents_pk', ['user_id', 'client_id', 'resource'])
      .execute();

    await db.schema
      .createTable('sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sessions_expires').on('sessions').column('expires_at').execute();

    await db.schema
      .createTable('interactions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('session_hash', 'text', (c) => c.notNull())
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('window_end', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('locks')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .execute();
  },
};

/** Fencing tokens for locks, and the connection broker's tables. */
const broker: Migration = {
  async up(db: Kysely<unknown>) {
    const time = 'bigint' as const;
    await db.schema.alterTable('locks').addColumn('fence', 'bigint', (c) => c.notNull().defaultTo(0)).execute();

    await db.schema
      .createTable('providers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('app_key', 'text', (c) => c.notNull())
      .addColumn('catalog_name', 'text')
      .addColumn('grant_type', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('client_secret_sealed', 'text', (c) => c.notNull())
      .addColumn('authorize_url', 'text')
      .addColumn('token_url', 'text', (c) => c.notNull())
      .addColumn('revoke_url', 'text')
      .addColumn('userinfo_url', 'text')
      .addColumn('issuer', 'text')
      .addColumn('iss_parameter_supported', 'integer', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('scope_separator', 'text', (c) => c.notNull())
      .addColumn('pkce', 'integer', (c) => c.notNull())
      .addColumn('auth_method', 'text', (c) => c.notNull())
      .addColumn('redirect_uri', 'text')
      .addColumn('authorization_params', 'text', (c) => c.notNull())
      .addColumn('token_params', 'text', (c) => c.notNull())
      .addColumn('template_values', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('updated_at', time, (c) => c.notNull())
      .addUniqueConstraint('providers_name_app', ['name', 'app_key'])
      .execute();

    await db.schema
      .createTable('connections')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('provider_id', 'text', (c) => c.notNull())
      .addColumn('provider_name', 'text', (c) => c.notNull())
      .addColumn('user_key', 'text', (c) => c.notNull())
      .addColumn('app_key', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('access_token_sealed', 'text')
      .addColumn('refresh_token_sealed', 'text')
      .addColumn('token_type', 'text')
      .addColumn('expires_at', time)
      .addColumn('refresh_at', time)
      .addColumn('account_id', 'text')
      .addColumn('account_email', 'text')
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('oauth2_redirect_url', 'text')
      .addColumn('portal_token_hash', 'text', (c) => c.unique())
      .addColumn('portal_token_sealed', 'text')
      .addColumn('portal_expires_at', time)
      .addColumn('failure_count', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', time)
      .addColumn('last_error', 'text')
      .addColumn('authorized_at', time)
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('updated_at', time, (c) => c.notNull())
      .addUniqueConstraint('connections_identity', ['provider_name', 'user_key', 'app_key'])
      .execute();
    await db.schema.createIndex('connections_provider').on('connections').column('provider_id').execute();
    await db.schema.createIndex('connections_refresh').on('connections').columns(['status', 'refresh_at']).execute();

    await db.schema
      .createTable('oauth_states')
      .addColumn('state_hash', 'text', (c) => c.primaryKey())
      .addColumn('provider_id', 'text', (c) => c.notNull())
      .addColumn('connection_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('app_id', 'text')
      .addColumn('return_to', 'text')
      .addColumn('code_verifier_sealed', 'text')
      .addColumn('binding_hash', 'text', (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('expires_at', time, (c) => c.notNull())
      .addColumn('consumed_at', time)
      .execute();
    await db.schema.createIndex('oauth_states_expires').on('oauth_states').column('expires_at').execute();

    await db.schema
      .createTable('webhooks')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('secret_sealed', 'text', (c) => c.notNull())
      .addColumn('created_at', time, (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('webhook_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', time)
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('created_at', time, (c) => c.notNull())
      .addColumn('delivered_at', time)
      .execute();
    await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook_id', 'created_at']).execute();
  },
};

/**
 * Hardening: the audit trail, a client's previous secret kept through a rotation's grace period,
 * and the sealed reissue of a refresh answer for retries within the reuse grace window.
 */
const hardening: Migration = {
  async up(db: Kysely<unknown>) {
    const time = 'bigint' as const;
    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('at', time, (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('ip', 'text')
      .addColumn('detail', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_events_at').on('audit_events').columns(['at']).execute();
    await db.schema.createIndex('audit_events_type_at').on('audit_events').columns(['type', 'at']).execute();

    await db.schema.alterTable('clients').addColumn('previous_secret_hash', 'text').execute();
    await db.schema.alterTable('clients').addColumn('previous_secret_expires_at', time).execute();
    await db.schema.alterTable('refresh_tokens').addColumn('reissue_sealed', 'text').execute();
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return { '0001_initial': initial, '0002_broker': broker, '0003_hardening': hardening };
  },
};
