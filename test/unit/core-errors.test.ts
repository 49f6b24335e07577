import { describe, expect, it } from 'vitest';
import {
  AccessDenied,
  ConsentRequired,
  InsufficientScope,
  InvalidClient,
  InvalidGrant,
  InvalidRequest,
  InvalidScope,
  InvalidTarget,
  InvalidToken,
  LoginRequired,
  OAuthError,
  ServerError,
  UnauthorizedClient,
  UnsupportedGrantType,
  UnsupportedResponseType,
  UnsupportedTokenType,
} from '../../src/core/errors.js';

describe('OAuth errors', () => {
  it.each([
    [InvalidRequest, 'invalid_request', 400],
    [InvalidGrant, 'invalid_grant', 400],
    [UnauthorizedClient, 'unauthorized_client', 400],
    [UnsupportedGrantType, 'unsupported_grant_type', 400],
    [UnsupportedResponseType, 'unsupported_response_type', 400],
    [UnsupportedTokenType, 'unsupported_token_type', 400],
    [InvalidScope, 'invalid_scope', 400],
    [InvalidTarget, 'invalid_target', 400],
    [LoginRequired, 'login_required', 400],
    [ConsentRequired, 'consent_required', 400],
    [AccessDenied, 'access_denied', 403],
    [ServerError, 'server_error', 500],
    [InvalidToken, 'invalid_token', 401],
  ] as const)('%o has its code and status', (Cls, code, status) => {
    const err = new Cls('something went wrong');
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toBeInstanceOf(Error);
    expect(err.error).toBe(code);
    expect(err.status).toBe(status);
    expect(err.description).toBe('something went wrong');
    expect(err.message).toBe('something went wrong');
    expect(err.toJSON()).toEqual({ error: code, error_description: 'something went wrong' });
  });

  it('InvalidClient is a 401', () => {
    const err = new InvalidClient('bad secret');
    expect(err.error).toBe('invalid_client');
    expect(err.status).toBe(401);
    expect(err.toJSON()).toEqual({ error: 'invalid_client', error_description: 'bad secret' });
  });

  it('InsufficientScope is a 403 carrying the required scopes', () => {
    const err = new InsufficientScope('needs write', ['write']);
    expect(err.error).toBe('insufficient_scope');
    expect(err.status).toBe(403);
    expect(err.requiredScopes).toEqual(['write']);
  });

  it('toJSON has exactly error and error_description, and JSON.stringify uses it', () => {
    const err = new InvalidGrant('code expired');
    expect(Object.keys(err.toJSON()).sort()).toEqual(['error', 'error_description']);
    expect(JSON.parse(JSON.stringify(err))).toEqual({ error: 'invalid_grant', error_description: 'code expired' });
  });
});
