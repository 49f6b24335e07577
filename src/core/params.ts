import { InvalidRequest, quoted } from './errors.js';

/** Parameters of an OAuth request, each present at most once (RFC 6749 §3.1, §3.2). */
export type Params = Map<string, string>;

/** Parameters that may legitimately repeat (RFC 8707 §2); any other sent twice is refused. */
const REPEATABLE = new Set(['resource']);

export interface ParsedParams {
  single: Params;
  /** Values of the repeatable parameters, in order. */
  repeated: Map<string, string[]>;
  /** Names of non-repeatable parameters that were sent more than once. */
  duplicates: string[];
}

/**
 * Parses `application/x-www-form-urlencoded` text or a query string. An empty value counts as absent
 * (RFC 6749 §3.1). Duplicates are reported rather than thrown, because the authorization endpoint
 * must answer a duplicated `client_id` differently from a duplicated `scope`.
 */
export function parseParams(encoded: string): ParsedParams {
  const single: Params = new Map();
  const repeated = new Map<string, string[]>();
  const duplicates = new Set<string>();
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(encoded)) {
    // RFC 6749 §3.1: a parameter without a value is treated as omitted, so it cannot be a duplicate.
    if (value === '') continue;
    if (REPEATABLE.has(name)) {
      repeated.set(name, [...(repeated.get(name) ?? []), value]);
      continue;
    }
    if (seen.has(name)) duplicates.add(name);
    seen.add(name);
    single.set(name, value);
  }
  return { single, repeated, duplicates: [...duplicates] };
}

/** Refuses a request that repeated any parameter, naming the first. */
export function rejectDuplicates(parsed: ParsedParams): Params {
  const [first] = parsed.duplicates;
  if (first !== undefined) throw new InvalidRequest(`parameter ${quoted(first)} was sent more than once`);
  return parsed.single;
}

export function requireParam(params: Params, name: string): string {
  const value = params.get(name);
  if (value === undefined) throw new InvalidRequest(`missing required parameter '${name}'`);
  return value;
}
