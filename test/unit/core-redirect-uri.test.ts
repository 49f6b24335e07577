import { describe, expect, it } from 'vitest';
import { checkRedirectUri, matchRedirectUri, withParams } from '../../src/core/redirect-uri.js';

describe('checkRedirectUri', () => {
  it.each([
    'https://app.example.com/callback',
    'https://app.example.com/callback?tenant=1',
    'https://app.example.com:8443/cb',
    'http://localhost/cb',
    'http://localhost:3000/cb',
    'http://127.0.0.1:51000/cb',
    'http://[::1]:51000/cb',
  ])('accepts %s', (uri) => {
    expect(checkRedirectUri(uri)).toBeUndefined();
  });

  it.each([
    'http://example.com/cb',
    'http://localhost.example.com/cb',
    'http://127.0.0.2/cb',
    'http://192.168.1.10/cb',
  ])('refuses http on a non-loopback host: %s', (uri) => {
    expect(checkRedirectUri(uri)).toMatch(/https/);
  });

  it.each(['https://app.example.com/cb#frag', 'https://app.example.com/cb#'])('refuses a fragment: %s', (uri) => {
    expect(checkRedirectUri(uri)).toMatch(/fragment/);
  });

  it.each(['https://user@app.example.com/cb', 'https://user:pass@app.example.com/cb', 'https://app.example.com@evil.example/cb'])(
    'refuses user information: %s',
    (uri) => {
      expect(checkRedirectUri(uri)).toMatch(/user information/);
    },
  );

  it.each(['com.example.app:/callback', 'myapp://callback', 'javascript:alert(1)', 'data:text/html,hi', 'ftp://example.com/cb'])(
    'refuses a custom or non-http scheme: %s',
    (uri) => {
      expect(checkRedirectUri(uri)).toBeDefined();
    },
  );

  it.each(['/callback', 'app.example.com/cb', '', 'https://'])('refuses a relative or unparsable URI: %j', (uri) => {
    expect(checkRedirectUri(uri)).toBeDefined();
  });
});

describe('matchRedirectUri', () => {
  const registered = ['https://app.example.com/cb', 'https://app.example.com/other?x=1'];

  it('matches a registered URI exactly', () => {
    expect(matchRedirectUri(registered, 'https://app.example.com/cb')).toBe(true);
    expect(matchRedirectUri(registered, 'https://app.example.com/other?x=1')).toBe(true);
  });

  it.each([
    ['a trailing slash', 'https://app.example.com/cb/'],
    ['a different path case', 'https://app.example.com/CB'],
    ['an extra query', 'https://app.example.com/cb?x=1'],
    ['an extra query parameter', 'https://app.example.com/other?x=1&y=2'],
    ['a different query value', 'https://app.example.com/other?x=2'],
    ['an explicit default port', 'https://app.example.com:443/cb'],
    ['a different scheme', 'http://app.example.com/cb'],
    ['a prefix', 'https://app.example.com/c'],
    ['a longer path', 'https://app.example.com/cb/x'],
  ])('does not match with %s', (_name, requested) => {
    expect(matchRedirectUri(registered, requested)).toBe(false);
  });

  it('matches nothing against an empty list', () => {
    expect(matchRedirectUri([], 'https://app.example.com/cb')).toBe(false);
  });

  describe('loopback redirect URIs match with any port (RFC 8252 section 7.3)', () => {
    const loopback = ['http://127.0.0.1/callback', 'http://[::1]:8000/cb?app=1', 'http://localhost/oauth'];

    it.each([
      ['no port registered, a port requested', 'http://127.0.0.1:51234/callback'],
      ['no port registered, none requested', 'http://127.0.0.1/callback'],
      ['IPv6 with another port', 'http://[::1]:9999/cb?app=1'],
      ['IPv6 with no port', 'http://[::1]/cb?app=1'],
      ['localhost with a port', 'http://localhost:3000/oauth'],
    ])('matches with %s', (_name, requested) => {
      expect(matchRedirectUri(loopback, requested)).toBe(true);
    });

    it.each([
      ['another loopback host', 'http://localhost:51234/callback'],
      ['another path', 'http://127.0.0.1:51234/callback/x'],
      ['another query', 'http://[::1]:9999/cb?app=2'],
      ['https instead of http', 'https://127.0.0.1:51234/callback'],
      ['a fragment', 'http://127.0.0.1:51234/callback#x'],
      ['user information', 'http://u:p@127.0.0.1:51234/callback'],
    ])('does not match with %s', (_name, requested) => {
      expect(matchRedirectUri(loopback, requested)).toBe(false);
    });

    it('never relaxes the port of a host that is not loopback', () => {
      expect(matchRedirectUri(['https://app.example.com/cb'], 'https://app.example.com:8443/cb')).toBe(false);
      expect(matchRedirectUri(['http://127.0.0.2/cb'], 'http://127.0.0.2:80/cb')).toBe(false);
    });
  });
});

describe('withParams', () => {
  it('appends parameters, encoding them', () => {
    const result = new URL(withParams('https://app.example.com/cb', { code: 'a b&c', state: 'x/y' }));
    expect(result.origin + result.pathname).toBe('https://app.example.com/cb');
    expect(result.searchParams.get('code')).toBe('a b&c');
    expect(result.searchParams.get('state')).toBe('x/y');
  });

  it('keeps the registered query, before the new parameters', () => {
    const result = withParams('https://app.example.com/cb?tenant=acme&x=1', { code: 'abc' });
    expect(result).toBe('https://app.example.com/cb?tenant=acme&x=1&code=abc');
  });

  it('skips undefined values', () => {
    const result = new URL(withParams('https://app.example.com/cb', { code: 'abc', state: undefined }));
    expect([...result.searchParams.keys()]).toEqual(['code']);
  });
});
