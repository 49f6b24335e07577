import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catalog, catalogEntry, CatalogTemplateError, fillTemplate, parseCatalog, templateVariables } from '../../src/broker/catalog/catalog.js';
import { analyzeUrlTemplate, catalogEntrySchema, type CatalogEntryInput } from '../../src/broker/catalog/schema.js';

const rawEntries = JSON.parse(readFileSync(new URL('../../src/broker/catalog/providers.json', import.meta.url), 'utf8')) as CatalogEntryInput[];

const REQUIRED = [
  'google', 'gmail', 'google-calendar', 'google-drive', 'github', 'slack', 'microsoft', 'salesforce', 'hubspot', 'notion',
  'linear', 'atlassian', 'dropbox', 'zoom', 'xero', 'quickbooks', 'shopify', 'discord', 'gitlab', 'asana', 'box', 'spotify',
  'linkedin', 'zendesk', 'intercom', 'stripe', 'x', 'latchkey',
];

/** A minimal valid entry to break one field at a time. */
function validEntry(): Record<string, unknown> {
  return {
    name: 'example',
    display_name: 'Example',
    grant_type: 'authorization_code',
    authorize_url: 'https://auth.example.com/authorize',
    token_url: 'https://auth.example.com/token',
    default_scopes: ['read'],
    scope_separator: ' ',
    pkce: true,
    auth_method: 'client_secret_basic',
  };
}

function problems(entry: unknown): string[] {
  const result = catalogEntrySchema.safeParse(entry);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

function entry(name: string) {
  const found = catalogEntry(name);
  if (!found) throw new Error(`no catalog entry ${name}`);
  return found;
}

describe('the catalog data', () => {
  it.each(rawEntries.map((e) => [e.name, e] as const))('%s passes the schema', (_name, raw) => {
    expect(problems(raw)).toEqual([]);
  });

  it('loads, with at least 30 entries, every required provider among them', () => {
    const names = [...catalog().keys()];
    expect(names.length).toBeGreaterThanOrEqual(30);
    expect(names.length).toBe(rawEntries.length);
    for (const name of REQUIRED) expect(names, name).toContain(name);
  });

  it('is cached and frozen', () => {
    expect(catalog()).toBe(catalog());
    const gmail = entry('gmail');
    expect(Object.isFrozen(gmail)).toBe(true);
    expect(Object.isFrozen(gmail.authorization_params)).toBe(true);
    expect(() => (gmail.default_scopes as string[]).push('x')).toThrow();
  });

  it('answers undefined for an unknown name', () => {
    expect(catalogEntry('no-such-provider')).toBeUndefined();
  });

  it('fills defaults', () => {
    const google = entry('google');
    expect(google.token_response).toEqual({
      format: 'json',
      access_token_path: 'access_token',
      refresh_token_path: 'refresh_token',
      expires_in_path: 'expires_in',
      scope_path: 'scope',
      token_type_path: 'token_type',
      error_path: 'error',
    });
    expect(google.iss_parameter_supported).toBe(false);
    expect(google.token_params).toEqual({});
    expect(google.template_variables).toEqual([]);
    expect(entry('latchkey').expiry).toBe('expires_in');
  });

  it('uses only https URLs, and placeholders only where declared', () => {
    for (const e of catalog().values()) {
      for (const url of [e.authorize_url, e.token_url, e.revoke_url, e.userinfo_url, e.issuer, e.docs_url]) {
        if (url === undefined) continue;
        expect(url.startsWith('https://') || url.startsWith('{issuer}/') || url === '{issuer}', `${e.name}: ${url}`).toBe(true);
      }
      expect(templateVariables(e).sort(), e.name).toEqual(e.template_variables.map((v) => v.name).sort());
    }
  });
});

describe('real provider facts', () => {
  it('google family: offline access with forced consent, Google endpoints, openid identity', () => {
    for (const name of ['google', 'gmail', 'google-calendar', 'google-drive']) {
      const e = entry(name);
      expect(e.authorization_params, name).toEqual({ access_type: 'offline', prompt: 'consent' });
      expect(e.authorize_url).toBe('https://accounts.google.com/o/oauth2/v2/auth');
      expect(e.token_url).toBe('https://oauth2.googleapis.com/token');
      expect(e.revoke_url).toBe('https://oauth2.googleapis.com/revoke');
      expect(e.issuer).toBe('https://accounts.google.com');
      expect(e.pkce).toBe(true);
    }
    expect(entry('google').default_scopes).toEqual(['openid', 'email']);
    expect(entry('gmail').default_scopes).toContain('https://www.googleapis.com/auth/gmail.modify');
  });

  it('github: form-encoded token answers unless Accept json, tokens that never expire, no revoke_url', () => {
    const github = entry('github');
    expect(github.token_url).toBe('https://github.com/login/oauth/access_token');
    expect(github.token_response.format).toBe('form');
    expect(github.notes).toMatch(/Accept: application\/json/);
    expect(github.expiry).toBe('never');
    expect(github.revoke_url).toBeUndefined();
  });

  it('slack: the user token is read from authed_user, and ok:false means failure', () => {
    const slack = entry('slack');
    expect(slack.token_url).toBe('https://slack.com/api/oauth.v2.access');
    expect(slack.token_response.access_token_path).toBe('authed_user.access_token');
    expect(slack.token_response.refresh_token_path).toBe('authed_user.refresh_token');
    expect(slack.token_response.scope_path).toBe('authed_user.scope');
    expect(slack.token_response.success_flag_path).toBe('ok');
    expect(slack.scope_separator).toBe(',');
    expect(slack.authorization_params.user_scope).toBeDefined();
  });

  it('salesforce: keeps instance_url, and its tokens expire without saying when', () => {
    const salesforce = entry('salesforce');
    expect(salesforce.connection_fields).toContain('instance_url');
    expect(salesforce.expiry).toBe('unreported');
    expect(salesforce.token_url).toBe('https://login.salesforce.com/services/oauth2/token');
    expect(entry('salesforce-sandbox').token_url).toBe('https://test.salesforce.com/services/oauth2/token');
  });

  it('shopify and zendesk: per-account hosts', () => {
    const shopify = entry('shopify');
    expect(shopify.authorize_url).toBe('https://{shop}.myshopify.com/admin/oauth/authorize');
    expect(shopify.token_url).toBe('https://{shop}.myshopify.com/admin/oauth/access_token');
    expect(templateVariables(shopify)).toEqual(['shop']);
    expect(shopify.scope_separator).toBe(',');
    const zendesk = entry('zendesk');
    expect(zendesk.token_url).toBe('https://{subdomain}.zendesk.com/oauth/tokens');
    expect(templateVariables(zendesk)).toEqual(['subdomain']);
  });

  it('stripe: Connect OAuth whose response names the connected account', () => {
    const stripe = entry('stripe');
    expect(stripe.authorize_url).toBe('https://connect.stripe.com/oauth/authorize');
    expect(stripe.token_url).toBe('https://connect.stripe.com/oauth/token');
    expect(stripe.connection_fields).toContain('stripe_user_id');
    expect(stripe.expiry).toBe('never');
    expect(stripe.default_scopes).toEqual(['read_write']);
  });

  it('notion: Basic auth, owner=user, workspace kept, tokens without expiry', () => {
    const notion = entry('notion');
    expect(notion.auth_method).toBe('client_secret_basic');
    expect(notion.authorization_params).toEqual({ owner: 'user' });
    expect(notion.connection_fields).toEqual(expect.arrayContaining(['workspace_id', 'bot_id']));
    expect(notion.expiry).toBe('never');
    expect(notion.default_scopes).toEqual([]);
  });

  it('microsoft: v2 endpoints of the common tenant with offline_access', () => {
    const microsoft = entry('microsoft');
    expect(microsoft.authorize_url).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/authorize');
    expect(microsoft.token_url).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/token');
    expect(microsoft.default_scopes).toContain('offline_access');
  });

  it('x: PKCE with Basic auth and offline.access', () => {
    const x = entry('x');
    expect(x.pkce).toBe(true);
    expect(x.auth_method).toBe('client_secret_basic');
    expect(x.token_url).toBe('https://api.x.com/2/oauth2/token');
    expect(x.default_scopes).toContain('offline.access');
  });

  it('atlassian: auth.atlassian.com with the api.atlassian.com audience', () => {
    const atlassian = entry('atlassian');
    expect(atlassian.authorize_url).toBe('https://auth.atlassian.com/authorize');
    expect(atlassian.authorization_params.audience).toBe('api.atlassian.com');
  });

  it('dropbox asks for offline tokens; linear separates scopes with commas', () => {
    expect(entry('dropbox').authorization_params.token_access_type).toBe('offline');
    expect(entry('linear').scope_separator).toBe(',');
  });

  it('latchkey: another instance, from its issuer', () => {
    const latchkey = entry('latchkey');
    expect(latchkey.authorize_url).toBe('{issuer}/oauth/authorize');
    expect(latchkey.token_url).toBe('{issuer}/oauth/token');
    expect(latchkey.revoke_url).toBe('{issuer}/oauth/revoke');
    expect(latchkey.issuer).toBe('{issuer}');
    expect(latchkey.iss_parameter_supported).toBe(true);
    expect(latchkey.pkce).toBe(true);
    expect(latchkey.auth_method).toBe('client_secret_basic');
    expect(templateVariables(latchkey)).toEqual(['issuer']);
  });

  it('client-credentials entries have no authorize URL and no PKCE', () => {
    const cc = [...catalog().values()].filter((e) => e.grant_type === 'client_credentials');
    expect(cc.map((e) => e.name)).toContain('paypal');
    for (const e of cc) {
      expect(e.authorize_url, e.name).toBeUndefined();
      expect(e.pkce, e.name).toBe(false);
    }
    for (const e of catalog().values()) {
      if (e.grant_type === 'authorization_code') expect(e.authorize_url, e.name).toBeDefined();
    }
  });
});

describe('the schema refuses a bad entry', () => {
  it('accepts the minimal entry these tests start from', () => {
    expect(problems(validEntry())).toEqual([]);
  });

  it.each<[string, (e: Record<string, unknown>) => void, RegExp]>([
    ['a missing token_url', (e) => delete e.token_url, /^token_url:/],
    ['an unknown field', (e) => (e.tokenUrl = 'https://auth.example.com/token'), /tokenUrl/],
    ['an unknown field in token_response', (e) => (e.token_response = { acces_token_path: 'x' }), /acces_token_path/],
    ['a bad scope separator', (e) => (e.scope_separator = ';'), /^scope_separator:/],
    ['a scope containing the separator', (e) => (e.default_scopes = ['read write']), /^default_scopes\.0:/],
    ['a bad name', (e) => (e.name = 'Gmail'), /^name:/],
    ['an http URL', (e) => (e.token_url = 'http://auth.example.com/token'), /^token_url: must be an absolute https URL/],
    ['a relative URL', (e) => (e.token_url = '/token'), /^token_url:/],
    ['credentials in a URL', (e) => (e.token_url = 'https://user:pw@auth.example.com/token'), /^token_url: must not contain credentials/],
    ['a template variable in the path', (e) => {
      e.token_url = 'https://auth.example.com/{tenant}/token';
      e.template_variables = [{ name: 'tenant', description: 'the tenant' }];
    }, /^token_url: placeholders may appear only in the host/],
    ['a template variable in the query', (e) => {
      e.authorize_url = 'https://auth.example.com/authorize?tenant={tenant}';
      e.template_variables = [{ name: 'tenant', description: 'the tenant' }];
    }, /^authorize_url: placeholders may appear only in the host/],
    ['a host variable standing for the whole origin', (e) => {
      e.token_url = '{shop}/token';
      e.template_variables = [{ name: 'shop', description: 'the shop' }];
    }, /^token_url: only \{issuer\} may stand for a whole origin/],
    ['{issuer} inside a host', (e) => {
      e.token_url = 'https://{issuer}.example.com/token';
      e.template_variables = [{ name: 'issuer', description: 'the issuer' }];
    }, /^token_url: \{issuer\} stands for a whole origin/],
    ['an undeclared placeholder', (e) => (e.token_url = 'https://{shop}.example.com/token'), /^template_variables: does not declare \{shop\}/],
    ['a declared placeholder no URL uses', (e) => (e.template_variables = [{ name: 'shop', description: 'the shop' }]), /^template_variables: declares \{shop\}, which no URL uses/],
    ['authorization_code without authorize_url', (e) => delete e.authorize_url, /^authorize_url: is required/],
    ['client_credentials with an authorize_url', (e) => {
      e.grant_type = 'client_credentials';
      e.pkce = false;
    }, /^authorize_url: must be absent/],
    ['a reserved authorization parameter', (e) => (e.authorization_params = { redirect_uri: 'https://evil.example/' }), /^authorization_params\.redirect_uri:/],
    ['a reserved token parameter', (e) => (e.token_params = { grant_type: 'password' }), /^token_params\.grant_type:/],
    ['a secret kept as a connection field', (e) => (e.connection_fields = ['refresh_token']), /^connection_fields\.0: is a token/],
    ['identity without userinfo_url', (e) => (e.identity = { id_path: 'sub' }), /^identity:/],
    ['iss_parameter_supported without issuer', (e) => (e.iss_parameter_supported = true), /^iss_parameter_supported:/],
    ['a bad expiry', (e) => (e.expiry = 'sometimes'), /^expiry:/],
    ['a bad dot path', (e) => (e.token_response = { access_token_path: 'a..b' }), /^token_response\.access_token_path:/],
    ['a non-string authorization parameter', (e) => (e.authorization_params = { prompt: true }), /^authorization_params\.prompt:/],
  ])('refuses %s', (_what, breakIt, expected) => {
    const e = validEntry();
    breakIt(e);
    const found = problems(e);
    expect(found.some((p) => expected.test(p)), found.join('\n')).toBe(true);
  });

  it('accepts a host placeholder and the {issuer} origin', () => {
    expect(problems({ ...validEntry(), token_url: 'https://{shop}.myshopify.com/admin/oauth/access_token', template_variables: [{ name: 'shop', description: 'the shop' }] })).toEqual([]);
    expect(problems({ ...validEntry(), authorize_url: '{issuer}/oauth/authorize', token_url: '{issuer}/oauth/token', issuer: '{issuer}', template_variables: [{ name: 'issuer', description: 'the issuer' }] })).toEqual([]);
  });

  it('analyzeUrlTemplate refuses stray braces, control characters and fragments', () => {
    expect(analyzeUrlTemplate('https://a.example/{x').ok).toBe(false);
    expect(analyzeUrlTemplate('https://{Shop}.example/').ok).toBe(false);
    expect(analyzeUrlTemplate('https://a.example/\ntoken').ok).toBe(false);
    expect(analyzeUrlTemplate('https://a.example/token#x').ok).toBe(false);
    expect(analyzeUrlTemplate('https://a.example/token#').ok).toBe(false);
    expect(analyzeUrlTemplate('https://{a}.{b}.example/token')).toEqual({ ok: true, variables: ['a', 'b'] });
  });
});

describe('the loader', () => {
  it('names the bad entry and the field', () => {
    const bad: Record<string, unknown> = { ...validEntry(), name: 'broken' };
    delete bad.token_url;
    expect(() => parseCatalog([validEntry(), bad])).toThrow(/entry "broken" \(#1\).*token_url/);
  });

  it('names an entry without a name by its position', () => {
    expect(() => parseCatalog([{ display_name: 'x' }])).toThrow(/entry #0 .*name/);
  });

  it('refuses duplicate names', () => {
    expect(() => parseCatalog([validEntry(), validEntry()])).toThrow(/entry "example" \(#1\).*already used/);
  });

  it('refuses data that is not an array', () => {
    expect(() => parseCatalog({ google: {} })).toThrow(/array/);
  });
});

describe('fillTemplate', () => {
  it('substitutes host variables', () => {
    expect(fillTemplate('https://{shop}.myshopify.com/admin/oauth/authorize', { shop: 'acme-store' })).toBe('https://acme-store.myshopify.com/admin/oauth/authorize');
    expect(fillTemplate('https://{host}/oauth/token', { host: 'gitlab.example.com' })).toBe('https://gitlab.example.com/oauth/token');
  });

  it('substitutes an issuer origin, http included', () => {
    expect(fillTemplate('{issuer}/oauth/token', { issuer: 'https://auth.example.com' })).toBe('https://auth.example.com/oauth/token');
    expect(fillTemplate('{issuer}/oauth/token', { issuer: 'http://127.0.0.1:8080' })).toBe('http://127.0.0.1:8080/oauth/token');
    expect(fillTemplate('{issuer}', { issuer: 'https://auth.example.com' })).toBe('https://auth.example.com');
  });

  it('returns a URL without placeholders unchanged', () => {
    expect(fillTemplate('https://oauth2.googleapis.com/token', {})).toBe('https://oauth2.googleapis.com/token');
  });

  it('names a missing variable', () => {
    const err = (() => {
      try {
        fillTemplate('https://{subdomain}.zendesk.com/oauth/tokens', { shop: 'acme' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(CatalogTemplateError);
    expect((err as CatalogTemplateError).code).toBe('invalid_request');
    expect((err as CatalogTemplateError).variable).toBe('subdomain');
    expect((err as Error).message).toMatch(/subdomain/);
  });

  it('does not take values from the prototype', () => {
    expect(() => fillTemplate('https://{constructor}.example.com/', {})).toThrow(CatalogTemplateError);
  });

  it.each([
    'evil.com/',
    'evil.com/x?',
    'a@b',
    'x#',
    'x?y',
    'evil.com:443',
    '-acme',
    '.acme',
    'acme shop',
    'a\nb',
    'ac%2Fme',
    '',
    'a'.repeat(255),
  ])('refuses the host value %j', (value) => {
    expect(() => fillTemplate('https://{shop}.myshopify.com/admin/oauth/authorize', { shop: value })).toThrow(CatalogTemplateError);
  });

  it.each([
    'auth.example.com',
    'https://auth.example.com/',
    'https://auth.example.com/path',
    'https://auth.example.com?x=1',
    'https://auth.example.com#x',
    'https://user@auth.example.com',
    'ftp://auth.example.com',
    'javascript:alert(1)',
    'https://AUTH.example.com',
  ])('refuses the issuer value %j', (value) => {
    expect(() => fillTemplate('{issuer}/oauth/token', { issuer: value })).toThrow(CatalogTemplateError);
  });

  it('allows an origin only for the variable named issuer', () => {
    expect(() => fillTemplate('https://{shop}.myshopify.com/', { shop: 'https://evil.com' })).toThrow(CatalogTemplateError);
  });

  it('refuses a template with a placeholder outside the host', () => {
    expect(() => fillTemplate('https://api.example.com/{tenant}/token', { tenant: 'acme' })).toThrow(CatalogTemplateError);
  });

  it('fills every catalog URL from its declared variables', () => {
    const sample: Record<string, string> = { shop: 'acme', subdomain: 'acme', host: 'git.example.com', domain: 'acme.okta.com', issuer: 'https://auth.example.com' };
    for (const e of catalog().values()) {
      for (const url of [e.authorize_url, e.token_url, e.revoke_url, e.userinfo_url, e.issuer]) {
        if (url === undefined) continue;
        const filled = fillTemplate(url, sample);
        expect(new URL(filled).protocol, `${e.name}: ${filled}`).toBe('https:');
      }
    }
  });
});

describe('docs/providers.md', () => {
  it('has a table row for every catalog entry', () => {
    const doc = readFileSync(new URL('../../docs/providers.md', import.meta.url), 'utf8');
    for (const name of catalog().keys()) expect(doc, name).toContain(`| \`${name}\` |`);
  });
});
