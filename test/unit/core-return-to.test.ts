import { describe, expect, it } from 'vitest';
import { isSafeReturnTo } from '../../src/core/return-to.js';

describe('isSafeReturnTo', () => {
  it.each(['/', '/a?b', '/authorize?client_id=x&state=y', '/%2F', '/%2F%2Fevil.example', '/a//b', '/a\\b'])('accepts the local path %j', (value) => {
    expect(isSafeReturnTo(value)).toBe(true);
  });

  it.each([
    ['a protocol-relative URL', '//evil.example'],
    ['a backslash read as a slash', '/\\evil.example'],
    ['an absolute URL', 'http://evil.example/'],
    ['an https URL', 'https://evil.example/'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['the empty string', ''],
    ['a relative path', 'x'],
    ['a leading backslash', '\\\\evil.example'],
    ['a tab after the slash', '/\t/evil.example'],
    ['a newline', '/a\nb'],
    ['a carriage return', '/a\rb'],
    ['NUL', '/a\u0000'],
    ['DEL', '/a\u007f'],
  ])('refuses %s', (_name, value) => {
    expect(isSafeReturnTo(value)).toBe(false);
  });

  it('keeps a /%2F path on this origin', () => {
    expect(new URL('/%2F', 'https://issuer.example').origin).toBe('https://issuer.example');
  });
});
