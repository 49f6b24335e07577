import { describe, expect, it } from 'vitest';
import { InvalidScope } from '../../src/core/errors.js';
import { coversScopes, formatScope, grantScopes, isValidScopeToken, narrowScopes, parseScopeParam } from '../../src/core/scopes.js';

describe('parseScopeParam', () => {
  it('returns undefined for an absent parameter', () => {
    expect(parseScopeParam(undefined)).toBeUndefined();
  });

  it('splits on spaces and removes duplicates, keeping first-seen order', () => {
    expect(parseScopeParam('read write read admin write')).toEqual(['read', 'write', 'admin']);
  });

  it('ignores repeated spaces', () => {
    expect(parseScopeParam('  read   write ')).toEqual(['read', 'write']);
  });

  it('accepts the printable characters RFC 6749 §3.3 allows', () => {
    expect(parseScopeParam('openid https://api.example/read:all a!#$%&()*+,-./~')).toEqual([
      'openid',
      'https://api.example/read:all',
      'a!#$%&()*+,-./~',
    ]);
  });

  it.each([
    ['a double quote', 'read "write"'],
    ['a backslash', 'read wr\\ite'],
    ['a tab', 'read\twrite'],
    ['a newline', 'read\nwrite'],
    ['NUL', 'read\u0000'],
    ['DEL', 'read\u007f'],
    ['a non-ASCII letter', 'lécture'],
  ])('refuses %s', (_name, value) => {
    expect(() => parseScopeParam(value)).toThrow(InvalidScope);
  });
});

describe('isValidScopeToken and formatScope', () => {
  it('refuses the empty token and a space', () => {
    expect(isValidScopeToken('')).toBe(false);
    expect(isValidScopeToken('a b')).toBe(false);
    expect(isValidScopeToken('a')).toBe(true);
  });

  it('joins with single spaces', () => {
    expect(formatScope(['a', 'b', 'c'])).toBe('a b c');
    expect(formatScope([])).toBe('');
  });
});

describe('grantScopes', () => {
  const api = ['read', 'write', 'admin'];

  it('grants, by default, the client scopes the API defines (in client order)', () => {
    expect(grantScopes(undefined, ['write', 'other', 'read'], api)).toEqual(['write', 'read']);
  });

  it('refuses a default when client and API share no scope', () => {
    expect(() => grantScopes(undefined, ['other'], api)).toThrow(InvalidScope);
    expect(() => grantScopes(undefined, [], api)).toThrow(InvalidScope);
  });

  it('grants exactly the requested scopes when all are allowed and defined', () => {
    expect(grantScopes(['read'], ['read', 'write'], api)).toEqual(['read']);
  });

  it('refuses a scope the API does not define, even if the client has it', () => {
    expect(() => grantScopes(['read', 'other'], ['read', 'other'], api)).toThrow(/not defined by this API/);
  });

  it('refuses a scope the client is not allowed, even if the API defines it', () => {
    expect(() => grantScopes(['read', 'admin'], ['read', 'write'], api)).toThrow(/not allowed scope 'admin'/);
  });

  it('refuses an empty request', () => {
    expect(() => grantScopes([], ['read'], api)).toThrow(InvalidScope);
  });
});

describe('narrowScopes', () => {
  it('keeps the granted scopes when nothing is requested, as a copy', () => {
    const granted = ['read', 'write'];
    const result = narrowScopes(undefined, granted);
    expect(result).toEqual(granted);
    expect(result).not.toBe(granted);
  });

  it('narrows to a subset', () => {
    expect(narrowScopes(['read'], ['read', 'write'])).toEqual(['read']);
  });

  it('refuses to widen', () => {
    expect(() => narrowScopes(['read', 'admin'], ['read', 'write'])).toThrow(InvalidScope);
  });

  it('refuses an empty request', () => {
    expect(() => narrowScopes([], ['read'])).toThrow(InvalidScope);
  });
});

describe('coversScopes', () => {
  it('is true when every needed scope is granted', () => {
    expect(coversScopes(['read', 'write'], ['write'])).toBe(true);
    expect(coversScopes(['read', 'write'], ['read', 'write'])).toBe(true);
    expect(coversScopes(['read'], [])).toBe(true);
  });

  it('is false when any needed scope is missing', () => {
    expect(coversScopes(['read'], ['read', 'write'])).toBe(false);
    expect(coversScopes([], ['read'])).toBe(false);
  });
});
