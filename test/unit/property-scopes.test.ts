import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accessTokenClaims } from '../../src/core/access-token.js';
import { InvalidScope } from '../../src/core/errors.js';
import { coversScopes, formatScope, grantScopes, isValidScopeToken, narrowScopes, parseScopeParam } from '../../src/core/scopes.js';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_CHARS = [...Array(0x7f).keys()].filter((c) => c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)).map((c) => String.fromCharCode(c));
const scopeToken = fc.string({ unit: fc.constantFrom(...SCOPE_CHARS), minLength: 1, maxLength: 12 });
/** A small pool, so that requested, granted and defined scopes overlap often. */
const pooledScope = fc.oneof(fc.constantFrom('read', 'write', 'admin', 'openid', 'api:read', 'https://api.example/x'), scopeToken);
const scopeList = fc.array(pooledScope, { maxLength: 6 });
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const scopeParam = fc.string({ unit: fc.oneof(fc.constantFrom(' ', '  ', '"', '\\', '\t', 'read', 'write'), fc.constantFrom(...SCOPE_CHARS), codeUnit), maxLength: 30 });

const distinct = <T>(xs: readonly T[]): T[] => [...new Set(xs)];

describe('scope parsing (property)', () => {
  it('formatScope then parseScopeParam gives back the distinct tokens, in first-seen order', () => {
    fc.assert(
      fc.property(scopeList, (scopes) => {
        expect(parseScopeParam(formatScope(scopes))).toEqual(distinct(scopes));
      }),
    );
  });

  it('parseScopeParam on any text throws InvalidScope or returns distinct valid tokens that format back to the same set', () => {
    fc.assert(
      fc.property(scopeParam, (value) => {
        let tokens: string[] | undefined;
        try {
          tokens = parseScopeParam(value);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidScope);
          // Refused only when some space-separated token is outside the grammar.
          expect(value.split(' ').some((t) => t !== '' && !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(t))).toBe(true);
          return;
        }
        expect(tokens).toBeDefined();
        for (const t of tokens!) expect(isValidScopeToken(t)).toBe(true);
        expect(new Set(tokens).size).toBe(tokens!.length);
        expect(tokens).toEqual(distinct(value.split(' ').filter((t) => t !== '')));
        expect(parseScopeParam(formatScope(tokens!))).toEqual(tokens);
      }),
    );
  });

  it('isValidScopeToken is exactly the RFC 6749 §3.3 grammar', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom(...SCOPE_CHARS)), maxLength: 6 }), (token) => {
        const expected = token.length > 0 && [...token].every((c) => SCOPE_CHARS.includes(c));
        expect(isValidScopeToken(token)).toBe(expected);
      }),
    );
  });
});

describe('scope rules (property)', () => {
  it('narrowScopes never widens: it returns a non-empty subset of the grant, or throws InvalidScope', () => {
    fc.assert(
      fc.property(fc.option(scopeList, { nil: undefined }), scopeList, (requested, granted) => {
        let result: string[];
        try {
          result = narrowScopes(requested, granted);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidScope);
          expect(requested !== undefined && (requested.length === 0 || !coversScopes(granted, requested))).toBe(true);
          return;
        }
        expect(coversScopes(granted, result)).toBe(true);
        expect(result).toEqual(requested ?? granted);
        if (requested !== undefined) expect(result.length).toBeGreaterThan(0);
      }),
    );
  });

  it('grantScopes grants only scopes both the client is allowed and the API defines, or throws InvalidScope', () => {
    fc.assert(
      fc.property(fc.option(scopeList, { nil: undefined }), scopeList, scopeList, (requested, clientScopes, apiScopes) => {
        let result: string[];
        try {
          result = grantScopes(requested, clientScopes, apiScopes);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidScope);
          const allowed = clientScopes.filter((s) => apiScopes.includes(s));
          expect(requested === undefined ? allowed.length === 0 : requested.length === 0 || !coversScopes(allowed, requested)).toBe(true);
          return;
        }
        expect(result.length).toBeGreaterThan(0);
        expect(coversScopes(clientScopes, result)).toBe(true);
        expect(coversScopes(apiScopes, result)).toBe(true);
        if (requested !== undefined) expect(result).toEqual(requested);
      }),
    );
  });

  it('coversScopes is set inclusion', () => {
    fc.assert(
      fc.property(scopeList, scopeList, (granted, needed) => {
        expect(coversScopes(granted, needed)).toBe(needed.every((s) => granted.includes(s)));
      }),
    );
  });
});

describe('accessTokenClaims (property)', () => {
  it('iat is the whole second of now, exp = iat + ttl, and scope parses back to the scopes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.integer({ min: 1, max: 31_536_000 }), fc.uniqueArray(pooledScope, { maxLength: 6 }), (now, ttl, scopes) => {
        const claims = accessTokenClaims({ issuer: 'https://i.example', subject: 's', audience: 'https://api.example', clientId: 'c', scopes, jti: 'j', now, ttlSeconds: ttl });
        expect(Number.isInteger(claims.iat)).toBe(true);
        expect(claims.iat * 1000).toBeLessThanOrEqual(now);
        expect(now).toBeLessThan((claims.iat + 1) * 1000);
        expect(claims.exp - claims.iat).toBe(ttl);
        expect(parseScopeParam(claims.scope)).toEqual(scopes);
      }),
    );
  });
});
