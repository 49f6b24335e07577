import { describe, expect, it } from 'vitest';
import { parseBasicCredentials } from '../../src/core/basic-auth.js';

/** RFC 6749 §2.3.1: form-urlencode id and secret, join with ':', base64. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
function basic(id: string, secret: string, encode = true): string {
  const joined = encode ? `${formEncode(id)}:${formEncode(secret)}` : `${id}:${secret}`;
  return 'Basic ' + Buffer.from(joined, 'utf8').toString('base64');
}

describe('parseBasicCredentials', () => {
  it('decodes plain credentials', () => {
    expect(parseBasicCredentials(basic('client1', 'lkcs_secret'))).toEqual({ clientId: 'client1', clientSecret: 'lkcs_secret' });
  });

  it('form-decodes an id and secret containing ":", " " and "%"', () => {
    const id = 'my:client id%20';
    const secret = 'pa:ss wo%rd+/=';
    const header = basic(id, secret);
    // The encoded form really is percent- and plus-encoded, so this exercises the decoding.
    expect(Buffer.from(header.slice(6), 'base64').toString()).toContain('%3A');
    expect(parseBasicCredentials(header)).toEqual({ clientId: id, clientSecret: secret });
  });

  it('decodes + as a space and %2B as a plus', () => {
    expect(parseBasicCredentials(basic('a+b', 'c%2Bd', false))).toEqual({ clientId: 'a b', clientSecret: 'c+d' });
  });

  it('splits on the first colon, so an unencoded colon stays in the secret', () => {
    expect(parseBasicCredentials(basic('id', 'x:y', false))).toEqual({ clientId: 'id', clientSecret: 'x:y' });
  });

  it('decodes non-ASCII characters as UTF-8', () => {
    expect(parseBasicCredentials(basic('clïent', 'sécret'))).toEqual({ clientId: 'clïent', clientSecret: 'sécret' });
  });

  it('accepts any case of the scheme and extra spaces', () => {
    const token = Buffer.from('id:secret').toString('base64');
    expect(parseBasicCredentials(`basic ${token}`)).toEqual({ clientId: 'id', clientSecret: 'secret' });
    expect(parseBasicCredentials(`BASIC   ${token}  `)).toEqual({ clientId: 'id', clientSecret: 'secret' });
  });

  it.each([
    ['another scheme', 'Bearer abc'],
    ['no credentials', 'Basic '],
    ['the bare scheme', 'Basic'],
    ['no space after the scheme', 'Basic' + Buffer.from('id:secret').toString('base64')],
    ['characters outside base64', 'Basic id:secret'],
    ['two tokens', 'Basic YTpi YTpi'],
    ['no colon', 'Basic ' + Buffer.from('idsecret').toString('base64')],
    ['an empty client id', 'Basic ' + Buffer.from(':secret').toString('base64')],
    ['a malformed percent-escape', 'Basic ' + Buffer.from('id%zz:secret').toString('base64')],
    ['a malformed percent-escape in the secret', 'Basic ' + Buffer.from('id:sec%E0ret').toString('base64')],
    ['the empty string', ''],
  ])('refuses %s', (_name, header) => {
    expect(parseBasicCredentials(header)).toBeUndefined();
  });

  it('refuses an empty secret', () => {
    expect(parseBasicCredentials(basic('id', ''))).toBeUndefined();
  });
});
