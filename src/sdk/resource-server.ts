import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { InsufficientScopeError, InvalidTokenError, MissingTokenError, TemporarilyUnavailableError } from './errors.js';
import { IntrospectionUnavailable, isTokenActive, type IntrospectionClient } from './introspection.js';
import { describeJoseFailure } from './jose-failures.js';

export interface ResourceServerOptions {
  /** The Latchkey issuer; the token's `iss` must equal it exactly. */
  issuer: string;
  /** This API's identifier; the token's `aud` must name it. */
  audience: string;
  /** Defaults to `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Defaults to RS256, ES256 and EdDSA. */
  algorithms?: string[];
  /** Allowed clock skew for `exp`, `nbf` and `iat`; defaults to 5. */
  clockToleranceSeconds?: number;
  /**
   * The shortest time between two JWKS fetches caused by an unknown `kid`; defaults to 5. It bounds
   * both how long a just-rotated key can be refused and how often made-up kids can make us fetch.
   */
  jwksCooldownSeconds?: number;
  /** The `realm` of the `WWW-Authenticate` challenge; defaults to `audience`. */
  realm?: string;
  /** When set, every token that passes the offline checks is also introspected, so revocation takes effect at once. */
  introspection?: {
    clientId: string;
    clientSecret: string;
    /** Defaults to `<issuer>/oauth/introspect`. */
    endpoint?: string;
    /** Defaults to 5000. */
    timeoutMs?: number;
  };
}

/** The claims of a verified RFC 9068 access token, with `scope` split into `scopes`. */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  scopes: string[];
}

export interface ResourceServer {
  readonly realm: string;
  /**
   * Checks the `Authorization` header of a request and returns the token's claims. Throws a
   * `ResourceServerError` saying how to answer when the request must be refused.
   */
  verify(authorizationHeader: string | undefined, requiredScopes?: readonly string[]): Promise<AccessTokenClaims>;
}

const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const DEFAULT_JWKS_COOLDOWN_SECONDS = 5;
const DEFAULT_INTROSPECTION_TIMEOUT_MS = 5_000;
/** RFC 9068 §2.2: the claims every access token carries. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];
/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const issuerBase = options.issuer.replace(/\/+$/, '');
  const realm = options.realm ?? options.audience;
  const signingKeys = issuerSigningKeys(
    new URL(options.jwksUri ?? `${issuerBase}/.well-known/jwks.json`),
    (options.jwksCooldownSeconds ?? DEFAULT_JWKS_COOLDOWN_SECONDS) * 1000,
    realm,
  );
  const introspection: IntrospectionClient | undefined = options.introspection && {
    endpoint: options.introspection.endpoint ?? `${issuerBase}/oauth/introspect`,
    clientId: options.introspection.clientId,
    clientSecret: options.introspection.clientSecret,
    timeoutMs: options.introspection.timeoutMs ?? DEFAULT_INTROSPECTION_TIMEOUT_MS,
  };

  async function verifySignedClaims(token: string): Promise<AccessTokenClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, signingKeys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: options.algorithms ?? DEFAULT_ALGORITHMS,
        // jose compares media types, so `application/at+jwt` is accepted as well.
        typ: 'at+jwt',
        clockTolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: REQUIRED_CLAIMS,
      }));
    } catch (err) {
      const description = describeJoseFailure(err);
      if (description === undefined) throw err;
      throw new InvalidTokenError(description, realm);
    }
    return accessTokenClaims(payload, realm);
  }

  return {
    realm,
    async verify(authorizationHeader, requiredScopes = []) {
      const token = bearerToken(authorizationHeader, realm);
      const claims = await verifySignedClaims(token);
      const missing = requiredScopes.filter((scope) => !claims.scopes.includes(scope));
      if (missing.length > 0) {
        throw new InsufficientScopeError(`the access token lacks the scope ${missing.join(' ')}`, realm, requiredScopes);
      }
      if (introspection && !(await introspect(introspection, token, realm))) {
        throw new InvalidTokenError('the access token is no longer active', realm);
      }
      return claims;
    },
  };
}

/** RFC 6750 §2.1: `Bearer <b64token>`, the scheme name compared case-insensitively. */
function bearerToken(header: string | undefined, realm: string): string {
  const [scheme = '', ...rest] = (header ?? '').trim().split(/ +/);
  if (scheme.toLowerCase() !== 'bearer') throw new MissingTokenError('a bearer access token is required', realm);
  const [token] = rest;
  if (token === undefined || rest.length > 1 || !B64TOKEN.test(token)) {
    throw new InvalidTokenError('the Authorization header does not hold a well-formed bearer token', realm);
  }
  return token;
}

/**
 * The issuer's JWKS, fetched again when a token names an unknown kid (keys rotate), at most once per
 * jose's cooldown. A JWKS that cannot be fetched is the issuer's problem, not the token's: 503.
 */
function issuerSigningKeys(jwksUri: URL, cooldownMs: number, realm: string): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(jwksUri, { cooldownDuration: cooldownMs });
  return async (protectedHeader, token) => {
    try {
      return await remote(protectedHeader, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) throw err;
      throw new TemporarilyUnavailableError('the issuer signing keys cannot be fetched right now', realm, { cause: err });
    }
  };
}

async function introspect(client: IntrospectionClient, token: string, realm: string): Promise<boolean> {
  try {
    return await isTokenActive(client, token);
  } catch (err) {
    if (!(err instanceof IntrospectionUnavailable)) throw err;
    throw new TemporarilyUnavailableError('the token cannot be checked with the issuer right now', realm, { cause: err });
  }
}

/** jose checked presence and the registered claims; the types of the others are checked here. */
function accessTokenClaims(payload: JWTPayload, realm: string): AccessTokenClaims {
  for (const name of ['sub', 'jti', 'client_id']) {
    if (typeof payload[name] !== 'string') throw new InvalidTokenError(`the access token has an invalid ${name} claim`, realm);
  }
  const { scope } = payload;
  if (scope !== undefined && typeof scope !== 'string') throw new InvalidTokenError('the access token has an invalid scope claim', realm);
  const scopes = scope === undefined ? [] : scope.split(' ').filter((s) => s !== '');
  return { ...(payload as AccessTokenClaims), scopes };
}
