import { describe, expect, it } from 'vitest';
import { InvalidRequest } from '../../src/core/errors.js';
import { parseParams, rejectDuplicates, requireParam } from '../../src/core/params.js';

describe('parseParams', () => {
  it('reads single parameters into a map', () => {
    const parsed = parseParams('response_type=code&client_id=abc&state=xyz');
    expect(Object.fromEntries(parsed.single)).toEqual({ response_type: 'code', client_id: 'abc', state: 'xyz' });
    expect(parsed.duplicates).toEqual([]);
    expect(parsed.repeated.size).toBe(0);
  });

  it('reports each duplicated parameter once, by name', () => {
    const parsed = parseParams('scope=a&client_id=x&scope=b&client_id=y&scope=c&state=s');
    expect([...parsed.duplicates].sort()).toEqual(['client_id', 'scope']);
  });

  it('does not report a parameter sent once as duplicated', () => {
    expect(parseParams('a=1&b=2').duplicates).toEqual([]);
  });

  it('lets resource repeat, keeping the values in order, without reporting a duplicate', () => {
    const parsed = parseParams('resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&client_id=c');
    expect(parsed.repeated.get('resource')).toEqual(['https://a.example', 'https://b.example']);
    expect(parsed.duplicates).toEqual([]);
    expect(parsed.single.has('resource')).toBe(false);
  });

  it('treats an empty value as absent', () => {
    const parsed = parseParams('state=&client_id=abc&resource=');
    expect(parsed.single.has('state')).toBe(false);
    expect(parsed.single.get('client_id')).toBe('abc');
    expect(parsed.repeated.has('resource')).toBe(false);
  });

  it('does not count an empty value towards duplicates (RFC 6749 §3.1: treated as omitted)', () => {
    expect(parseParams('scope=&scope=read').duplicates).toEqual([]);
    expect(parseParams('scope=&scope=read').single.get('scope')).toBe('read');
    expect(parseParams('scope=read&scope=').duplicates).toEqual([]);
    expect(parseParams('resource=&resource=https%3A%2F%2Fa.example').repeated.get('resource')).toEqual(['https://a.example']);
  });

  it('decodes + and %20 as spaces, and other percent-escapes', () => {
    const parsed = parseParams('scope=read+write%20admin&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&note=a%2Bb');
    expect(parsed.single.get('scope')).toBe('read write admin');
    expect(parsed.single.get('redirect_uri')).toBe('https://app.example/cb?x=1');
    expect(parsed.single.get('note')).toBe('a+b');
  });

  it('parses an empty string to nothing', () => {
    const parsed = parseParams('');
    expect(parsed.single.size).toBe(0);
    expect(parsed.repeated.size).toBe(0);
    expect(parsed.duplicates).toEqual([]);
  });
});

describe('rejectDuplicates', () => {
  it('returns the single parameters when nothing repeats', () => {
    const params = rejectDuplicates(parseParams('a=1&b=2&resource=x&resource=y'));
    expect(Object.fromEntries(params)).toEqual({ a: '1', b: '2' });
  });

  it('throws invalid_request naming the first duplicated parameter', () => {
    const parsed = parseParams('client_id=a&scope=x&scope=y&client_id=b');
    expect(() => rejectDuplicates(parsed)).toThrow(InvalidRequest);
    expect(() => rejectDuplicates(parsed)).toThrow(/'scope'/);
  });
});

describe('requireParam', () => {
  it('returns a present value', () => {
    expect(requireParam(new Map([['code', 'abc']]), 'code')).toBe('abc');
  });

  it('throws invalid_request naming a missing parameter', () => {
    const call = () => requireParam(new Map([['other', 'x']]), 'code');
    expect(call).toThrow(InvalidRequest);
    expect(call).toThrow(/'code'/);
  });

  it('treats a parameter sent empty as missing', () => {
    expect(() => requireParam(parseParams('code=').single, 'code')).toThrow(InvalidRequest);
  });
});
