import { z } from 'zod';

/**
 * The shape of one entry of the built-in provider catalog (providers.json), checked at load. Every
 * object is strict, so a misspelt field fails loudly instead of being ignored. docs/providers.md
 * describes each field.
 */

export const GRANT_TYPES = ['authorization_code', 'client_credentials'] as const;
export const SCOPE_SEPARATORS = [' ', ',', '+'] as const;
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const EXPIRY_MODES = ['expires_in', 'never', 'unreported'] as const;
export const TOKEN_RESPONSE_FORMATS = ['json', 'form'] as const;

export type GrantType = (typeof GRANT_TYPES)[number];
export type ScopeSeparator = (typeof SCOPE_SEPARATORS)[number];
export type AuthMethod = (typeof AUTH_METHODS)[number];
export type ExpiryMode = (typeof EXPIRY_MODES)[number];

export const PROVIDER_NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;
export const TEMPLATE_VARIABLE_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/** The one variable that stands for a whole origin (`{issuer}/oauth/token`) rather than part of a host. */
export const ORIGIN_VARIABLE = 'issuer';

/** The URL fields that may hold `{name}` placeholders; `issuer` is included because it is compared with `iss`. */
export const TEMPLATED_URL_FIELDS = ['authorize_url', 'token_url', 'revoke_url', 'userinfo_url', 'issuer'] as const;
export type TemplatedUrlField = (typeof TEMPLATED_URL_FIELDS)[number];

/** Parameters the broker itself sets; an entry giving them would fight the flow (or leak into it). */
const RESERVED_AUTHORIZATION_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method'];
const RESERVED_TOKEN_PARAMS = ['grant_type', 'code', 'redirect_uri', 'client_id', 'client_secret', 'code_verifier', 'refresh_token', 'scope'];
/** Secrets of a token response: never kept as connection fields. */
const SECRET_RESPONSE_FIELDS = ['access_token', 'refresh_token', 'id_token'];

/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** A dot path into a JSON object: `access_token`, `authed_user.access_token`, `data.gid`. */
const DOT_PATH = /^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$/;

export type UrlTemplateAnalysis = { ok: true; variables: string[] } | { ok: false; problem: string };

/**
 * Finds the `{name}` placeholders of a URL template and checks where they are: either in the host
 * (`https://{shop}.myshopify.com/...`) or the whole origin `{issuer}` at the start. Anywhere else a
 * value could rewrite the path or query, so it is refused. With dummy values in, the URL must be an
 * absolute https URL without credentials.
 */
export function analyzeUrlTemplate(url: string): UrlTemplateAnalysis {
  // The URL parser drops tabs and newlines silently; refuse them rather than guess.
  if (/\s/.test(url) || [...url].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return { ok: false, problem: 'must not contain whitespace or control characters' };
  const variables: string[] = [];
  for (const match of url.matchAll(/\{([^{}]*)\}/g)) {
    const name = match[1]!;
    if (!TEMPLATE_VARIABLE_PATTERN.test(name)) return { ok: false, problem: `"{${name}}" is not a valid placeholder (lower-case letters, digits and _)` };
    if (!variables.includes(name)) variables.push(name);
  }
  const withoutPlaceholders = url.replace(/\{[a-z][a-z0-9_]*\}/g, '');
  if (/[{}]/.test(withoutPlaceholders)) return { ok: false, problem: 'has an unbalanced { or }' };

  let dummy: string;
  const originPlaceholder = `{${ORIGIN_VARIABLE}}`;
  if (url.startsWith('{')) {
    if (!url.startsWith(originPlaceholder)) return { ok: false, problem: `only {${ORIGIN_VARIABLE}} may stand for a whole origin` };
    const rest = url.slice(originPlaceholder.length);
    if (rest !== '' && !rest.startsWith('/')) return { ok: false, problem: `{${ORIGIN_VARIABLE}} must be followed by a path starting with /` };
    if (/[{}]/.test(rest)) return { ok: false, problem: 'placeholders may appear only in the host' };
    dummy = `https://issuer.example${rest}`;
  } else {
    const parts = /^https:\/\/([^/?#]*)(.*)$/.exec(url);
    if (!parts) return { ok: false, problem: 'must be an absolute https URL' };
    const authority = parts[1]!;
    const rest = parts[2]!;
    if (/[{}]/.test(rest)) return { ok: false, problem: 'placeholders may appear only in the host' };
    if (authority.includes('@')) return { ok: false, problem: 'must not contain credentials' };
    if (authority.includes(originPlaceholder)) return { ok: false, problem: `{${ORIGIN_VARIABLE}} stands for a whole origin and must begin the URL` };
    dummy = `https://${authority.replace(/\{[a-z][a-z0-9_]*\}/g, 'x')}${rest}`;
  }

  let parsed: URL;
  try {
    parsed = new URL(dummy);
  } catch {
    return { ok: false, problem: 'is not a valid URL' };
  }
  if (parsed.protocol !== 'https:') return { ok: false, problem: 'must be an absolute https URL' };
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, problem: 'must not contain credentials' };
  if (dummy.includes('#')) return { ok: false, problem: 'must not contain a fragment' };
  return { ok: true, variables };
}

const urlTemplate = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((value, ctx) => {
    const result = analyzeUrlTemplate(value);
    if (!result.ok) ctx.addIssue({ code: 'custom', message: result.problem });
  });

const plainHttpsUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    const result = analyzeUrlTemplate(value);
    return result.ok && result.variables.length === 0;
  }, 'must be an absolute https URL without placeholders');

const dotPath = z.string().max(200).regex(DOT_PATH, 'must be a dot path such as "access_token" or "authed_user.id"');

const stringParams = z.record(z.string().regex(/^[A-Za-z0-9_.\-[\]]{1,64}$/, 'must be a plain parameter name'), z.string().max(2048));

export const templateVariableSchema = z.strictObject({
  name: z.string().regex(TEMPLATE_VARIABLE_PATTERN, 'must be lower-case letters, digits and _, starting with a letter'),
  description: z.string().min(1).max(300),
});

export const identitySchema = z.strictObject({
  id_path: dotPath,
  email_path: dotPath.optional(),
});

export const tokenResponseSchema = z.strictObject({
  format: z.enum(TOKEN_RESPONSE_FORMATS).default('json'),
  access_token_path: dotPath.default('access_token'),
  refresh_token_path: dotPath.default('refresh_token'),
  expires_in_path: dotPath.default('expires_in'),
  scope_path: dotPath.default('scope'),
  token_type_path: dotPath.default('token_type'),
  error_path: dotPath.default('error'),
  success_flag_path: dotPath.optional(),
});

const entryFields = z.strictObject({
  name: z.string().regex(PROVIDER_NAME_PATTERN, 'must match [a-z0-9_-]{1,64}'),
  display_name: z.string().min(1).max(100),
  docs_url: plainHttpsUrl.optional(),
  grant_type: z.enum(GRANT_TYPES),
  authorize_url: urlTemplate.optional(),
  token_url: urlTemplate,
  revoke_url: urlTemplate.optional(),
  userinfo_url: urlTemplate.optional(),
  identity: identitySchema.optional(),
  issuer: urlTemplate.optional(),
  iss_parameter_supported: z.boolean().default(false),
  default_scopes: z.array(z.string().min(1).max(512).regex(SCOPE_TOKEN, 'must be an RFC 6749 scope token')).max(100),
  scope_separator: z.enum(SCOPE_SEPARATORS),
  pkce: z.boolean(),
  auth_method: z.enum(AUTH_METHODS),
  authorization_params: stringParams.default({}),
  token_params: stringParams.default({}),
  token_response: tokenResponseSchema.prefault({}),
  expiry: z.enum(EXPIRY_MODES).default('expires_in'),
  refresh_token_rotates: z.boolean().optional(),
  connection_fields: z.array(dotPath).max(20).default([]),
  template_variables: z.array(templateVariableSchema).max(10).default([]),
  notes: z.string().max(2000).optional(),
});

type EntryFields = z.output<typeof entryFields>;

/** Placeholders used by the templated URL fields of an entry, each once, in field order. */
export function usedTemplateVariables(entry: Partial<Pick<EntryFields, TemplatedUrlField>>): string[] {
  const names: string[] = [];
  for (const field of TEMPLATED_URL_FIELDS) {
    const url = entry[field];
    if (url === undefined) continue;
    const result = analyzeUrlTemplate(url);
    if (!result.ok) continue;
    for (const name of result.variables) if (!names.includes(name)) names.push(name);
  }
  return names;
}

function duplicates(values: string[]): string[] {
  return [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];
}

/** Rules that tie fields together; each issue carries the path of the field at fault. */
function checkEntry(entry: EntryFields, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void => {
    ctx.addIssue({ code: 'custom', path, message });
  };

  if (entry.grant_type === 'authorization_code') {
    if (entry.authorize_url === undefined) issue(['authorize_url'], 'is required for the authorization_code grant');
  } else {
    // Client credentials never send a browser anywhere: nothing about the authorize step applies.
    if (entry.authorize_url !== undefined) issue(['authorize_url'], 'must be absent for the client_credentials grant');
    if (entry.pkce) issue(['pkce'], 'must be false for the client_credentials grant');
    if (entry.iss_parameter_supported) issue(['iss_parameter_supported'], 'must be false for the client_credentials grant');
    if (Object.keys(entry.authorization_params).length > 0) issue(['authorization_params'], 'must be empty for the client_credentials grant');
  }

  if (entry.iss_parameter_supported && entry.issuer === undefined) issue(['iss_parameter_supported'], 'needs issuer to compare iss with');
  if (entry.identity !== undefined && entry.userinfo_url === undefined) issue(['identity'], 'describes the userinfo response, so userinfo_url is required');
  if (entry.userinfo_url !== undefined && entry.identity === undefined) issue(['identity'], 'is required with userinfo_url');

  entry.default_scopes.forEach((scope, i) => {
    if (scope.includes(entry.scope_separator)) issue(['default_scopes', i], `contains the scope separator ${JSON.stringify(entry.scope_separator)}`);
  });
  for (const scope of duplicates(entry.default_scopes)) issue(['default_scopes'], `lists ${JSON.stringify(scope)} twice`);

  for (const key of Object.keys(entry.authorization_params)) {
    if (RESERVED_AUTHORIZATION_PARAMS.includes(key)) issue(['authorization_params', key], 'is set by the broker itself');
  }
  for (const key of Object.keys(entry.token_params)) {
    if (RESERVED_TOKEN_PARAMS.includes(key)) issue(['token_params', key], 'is set by the broker itself');
  }

  const secretPaths = [...SECRET_RESPONSE_FIELDS, entry.token_response.access_token_path, entry.token_response.refresh_token_path];
  entry.connection_fields.forEach((path, i) => {
    const leaf = path.split('.').at(-1)!;
    if (secretPaths.includes(path) || SECRET_RESPONSE_FIELDS.includes(leaf)) issue(['connection_fields', i], 'is a token, not a non-secret value');
  });
  for (const path of duplicates(entry.connection_fields)) issue(['connection_fields'], `lists ${JSON.stringify(path)} twice`);

  const declared = entry.template_variables.map((v) => v.name);
  const used = usedTemplateVariables(entry);
  for (const name of duplicates(declared)) issue(['template_variables'], `declares {${name}} twice`);
  for (const name of used) {
    if (!declared.includes(name)) issue(['template_variables'], `does not declare {${name}}, which a URL uses`);
  }
  for (const name of declared) {
    if (!used.includes(name)) issue(['template_variables'], `declares {${name}}, which no URL uses`);
  }
}

export const catalogEntrySchema = entryFields.superRefine(checkEntry);

/** An entry as written in providers.json (defaults not yet applied). */
export type CatalogEntryInput = z.input<typeof catalogEntrySchema>;
/** An entry after validation, with every default filled in. */
export type CatalogEntry = z.output<typeof catalogEntrySchema>;
export type TokenResponseShape = CatalogEntry['token_response'];
export type IdentityPaths = z.output<typeof identitySchema>;
export type TemplateVariable = z.output<typeof templateVariableSchema>;
