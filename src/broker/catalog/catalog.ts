import { readFileSync } from 'node:fs';
import { InvalidRequest } from '../../core/errors.js';
import { analyzeUrlTemplate, catalogEntrySchema, ORIGIN_VARIABLE, usedTemplateVariables, type CatalogEntry, type TemplatedUrlField } from './schema.js';

export type { CatalogEntry, CatalogEntryInput } from './schema.js';

/**
 * The built-in provider catalog: providers.json, validated against the schema on first use and kept
 * for the life of the process. `scripts/copy-assets.mjs` puts the JSON beside the compiled module.
 */
const CATALOG_URL = new URL('./providers.json', import.meta.url);

let cached: ReadonlyMap<string, CatalogEntry> | undefined;

/** Every built-in provider by name. Throws, naming the entry and field, if providers.json is invalid. */
export function catalog(): ReadonlyMap<string, CatalogEntry> {
  if (cached === undefined) {
    let text: string;
    try {
      text = readFileSync(CATALOG_URL, 'utf8');
    } catch (err) {
      throw new Error(`Provider catalog: cannot read ${CATALOG_URL.pathname}: ${(err as Error).message}`, { cause: err });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`Provider catalog: ${CATALOG_URL.pathname} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    cached = parseCatalog(data);
  }
  return cached;
}

/** One built-in provider, or undefined when the name is not in the catalog. */
export function catalogEntry(name: string): CatalogEntry | undefined {
  return catalog().get(name);
}

/**
 * Validates catalog data (an array of entries) and returns it keyed by name, deeply frozen so that no
 * caller can change what others read. Exported for tests; `catalog()` is the way in.
 */
export function parseCatalog(data: unknown): ReadonlyMap<string, CatalogEntry> {
  if (!Array.isArray(data)) throw new Error('Provider catalog: expected a JSON array of entries');
  const entries = new Map<string, CatalogEntry>();
  data.forEach((raw: unknown, index) => {
    const rawName = typeof raw === 'object' && raw !== null && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : undefined;
    const label = rawName === undefined ? `entry #${index}` : `entry "${rawName}" (#${index})`;
    const result = catalogEntrySchema.safeParse(raw);
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(entry)'}: ${issue.message}`);
      throw new Error(`Provider catalog ${label} is invalid: ${problems.join('; ')}`);
    }
    if (entries.has(result.data.name)) throw new Error(`Provider catalog ${label} is invalid: name: "${result.data.name}" is already used by another entry`);
    entries.set(result.data.name, deepFreeze(result.data));
  });
  return entries;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The `{name}` placeholders an entry's URLs use (authorize, token, revoke, userinfo, issuer), each once. */
export function templateVariables(entry: Partial<Pick<CatalogEntry, TemplatedUrlField>>): string[] {
  return usedTemplateVariables(entry);
}

/** A template value that is missing or unsafe; answered as `400 invalid_request`. */
export class CatalogTemplateError extends InvalidRequest {
  readonly code = 'invalid_request';
  constructor(
    description: string,
    readonly variable?: string,
  ) {
    super(description);
    this.name = 'CatalogTemplateError';
  }
}

/** A host label or host name: no `/`, `@`, `:`, `?`, `#`, so it cannot move the URL to another host. */
const HOST_VALUE = /^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$/;

/**
 * Substitutes `{name}` placeholders in a catalog URL. Host-part values must be host labels or names;
 * `{issuer}` takes an `http(s)://host[:port]` origin with nothing after it. A missing or refused value
 * throws CatalogTemplateError naming the variable. URLs without placeholders come back unchanged.
 *
 * @example fillTemplate('https://{shop}.myshopify.com/admin/oauth/authorize', { shop: 'acme' })
 *   // 'https://acme.myshopify.com/admin/oauth/authorize'
 */
export function fillTemplate(url: string, values: Record<string, string>): string {
  if (!/[{}]/.test(url)) return url;
  const analysis = analyzeUrlTemplate(url);
  if (!analysis.ok) throw new CatalogTemplateError(`URL template ${JSON.stringify(url)} ${analysis.problem}`);

  for (const name of analysis.variables) {
    // Own properties only: `{constructor}` must not find Object.prototype.constructor.
    const value = Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined;
    if (typeof value !== 'string' || value === '') throw new CatalogTemplateError(`missing template variable "${name}"`, name);
    if (name === ORIGIN_VARIABLE ? !isOrigin(value) : !HOST_VALUE.test(value)) {
      const expected = name === ORIGIN_VARIABLE ? 'an origin such as https://auth.example.com (scheme, host and optional port; no path, query, fragment or trailing slash)' : 'a host name or label (letters, digits, dots and hyphens)';
      throw new CatalogTemplateError(`template variable "${name}" must be ${expected}`, name);
    }
  }

  const filled = url.replace(/\{([a-z][a-z0-9_]*)\}/g, (_placeholder, name: string) => values[name]!);
  try {
    new URL(filled);
  } catch {
    throw new CatalogTemplateError(`the values given for ${analysis.variables.map((n) => `"${n}"`).join(', ')} do not make a valid URL`, analysis.variables[0]);
  }
  return filled;
}

/** `value` is exactly the serialized origin of an http(s) URL: nothing is dropped or normalized. */
function isOrigin(value: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return false;
  }
  return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.origin === value;
}
