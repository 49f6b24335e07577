import { describe, expect, it } from 'vitest';
import { accessTokenClaims } from '../../src/core/access-token.js';

describe('accessTokenClaims', () => {
  const input = {
    issuer: 'https://issuer.example',
    subject: 'user_123',
    audience: 'https://api.example',
    clientId: 'client_abc',
    scopes: ['read', 'write'],
    jti: 'jti_1',
    now: 1_700_000_000_999,
    ttlSeconds: 3600,
  };

  it('builds the RFC 9068 claims', () => {
    expect(accessTokenClaims(input)).toEqual({
      iss: 'https://issuer.example',
      sub: 'user_123',
      aud: 'https://api.example',
      iat: 1_700_000_000,
      exp: 1_700_003_600,
      jti: 'jti_1',
      scope: 'read write',
      client_id: 'client_abc',
    });
  });

  it('uses whole seconds, rounding the milliseconds down', () => {
    const claims = accessTokenClaims({ ...input, now: 1_000_500 });
    expect(claims.iat).toBe(1000);
    expect(Number.isInteger(claims.iat)).toBe(true);
    expect(Number.isInteger(claims.exp)).toBe(true);
  });

  it('sets exp to iat + ttl', () => {
    const claims = accessTokenClaims({ ...input, ttlSeconds: 90 });
    expect(claims.exp - claims.iat).toBe(90);
  });

  it('joins a single scope without spaces and no scope to the empty string', () => {
    expect(accessTokenClaims({ ...input, scopes: ['read'] }).scope).toBe('read');
    expect(accessTokenClaims({ ...input, scopes: [] }).scope).toBe('');
  });
});
