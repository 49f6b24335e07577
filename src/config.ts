import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/** Settings come from flags, then environment variables, then these defaults. */
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  port: number;
  host: string;
  issuer: string;
  dataDir: string;
  databaseUrl: string;
  masterKey: string | undefined;
  workers: number;
  signingAlg: SigningAlg;
  logLevel: LogLevel;
  /**
   * Which proxies may tell the client's address in X-Forwarded-For: false (none, the default), true
   * (any), a number of hops, or a list of addresses and CIDR ranges.
   */
  trustProxy: boolean | number | string[];
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  codeTtlSeconds: number;
  sessionTtlSeconds: number;
  /**
   * How long a consumed refresh token may be presented again and receive the same successor pair
   * (a client retrying after a timeout, two tabs refreshing at once); 0 turns the window off.
   */
  refreshReuseGraceSeconds: number;
  /** Which clients must send PKCE with the authorization code grant (RFC 9700 §2.1.1). */
  requirePkce: 'public' | 'all';
  /** Serve Prometheus metrics at /metrics. */
  metrics: boolean;
  rateLimits: RateLimits;
  http: HttpLimits;
  broker: BrokerTiming;
}

/**
 * Failed authentications allowed per window before requests are answered 429: at the token,
 * revocation and introspection endpoints (per client id and per address) and the management APIs
 * (per address). Sign-in has its own, stricter limits.
 */
export interface RateLimits {
  clientFailures: number;
  addressFailures: number;
  windowSeconds: number;
}

/** Bounds on how long a connection may take, so a stalled client cannot hold the server. */
export interface HttpLimits {
  /** The whole request, headers and body. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** A connection with no traffic at all. */
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** How long shutdown waits for requests in progress before closing their connections. */
  shutdownTimeoutMs: number;
}

/** The broker's clocks; fixed by the SPEC, and shortened only by tests. */
export interface BrokerTiming {
  /** How long a connection's refresh lock is leased; renewed while the refresh runs. */
  refreshLockMs: number;
  /** How often the background refresher looks for connections inside the margin (SPEC: 10 s). */
  refreshIntervalMs: number;
  /** How long a waiting credential request may take in all (SPEC: 5 s). */
  credentialWaitMs: number;
  /** The first retry delay of a failed refresh or webhook delivery; each retry doubles it. */
  retryBaseMs: number;
  /** How often the outbox of webhook deliveries is looked at. */
  webhookIntervalMs: number;
  /** How long a webhook delivery keeps being retried (at least 24 h). */
  webhookRetryForMs: number;
}

/** Raw settings as they arrive from a CLI flag or an environment variable: strings. */
export interface RawSettings {
  port?: string | undefined;
  host?: string | undefined;
  issuer?: string | undefined;
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  workers?: string | undefined;
  signingAlg?: string | undefined;
  logLevel?: string | undefined;
  trustProxy?: string | undefined;
  refreshReuseGrace?: string | undefined;
  requirePkce?: string | undefined;
  metrics?: string | undefined;
  rateLimitClient?: string | undefined;
  rateLimitAddress?: string | undefined;
  rateLimitWindow?: string | undefined;
  requestTimeout?: string | undefined;
  shutdownTimeout?: string | undefined;
}

export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

const ENV_NAMES: Record<keyof RawSettings, string> = {
  port: 'LATCHKEY_PORT',
  host: 'LATCHKEY_HOST',
  issuer: 'LATCHKEY_ISSUER',
  dataDir: 'LATCHKEY_DATA_DIR',
  databaseUrl: 'LATCHKEY_DATABASE_URL',
  workers: 'LATCHKEY_WORKERS',
  signingAlg: 'LATCHKEY_SIGNING_ALG',
  logLevel: 'LATCHKEY_LOG_LEVEL',
  trustProxy: 'LATCHKEY_TRUST_PROXY',
  refreshReuseGrace: 'LATCHKEY_REFRESH_REUSE_GRACE',
  requirePkce: 'LATCHKEY_REQUIRE_PKCE',
  metrics: 'LATCHKEY_METRICS',
  rateLimitClient: 'LATCHKEY_RATE_LIMIT_CLIENT',
  rateLimitAddress: 'LATCHKEY_RATE_LIMIT_ADDRESS',
  rateLimitWindow: 'LATCHKEY_RATE_LIMIT_WINDOW',
  requestTimeout: 'LATCHKEY_REQUEST_TIMEOUT',
  shutdownTimeout: 'LATCHKEY_SHUTDOWN_TIMEOUT',
};

/**
 * A number written in digits only, up to 9 of them; NaN for anything else. A bare `Number()` would
 * also read ' ' as 0, '0x50' as 80 and '1e3' as 1000.
 */
export function digitsToNumber(value: string): number {
  return /^[0-9]{1,9}$/.test(value) ? Number(value) : NaN;
}

/** A whole number in `[min, max]` written in digits only, or a ConfigError naming the flag. */
function wholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = digitsToNumber(value);
  if (!(n >= min && n <= max)) throw new ConfigError(`--${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * The connection bounds from the two settings an operator picks: the whole request's time, which
 * also bounds headers (a third of it, at most 10 s) and idleness, and shutdown's wait.
 */
function httpLimits(requestSeconds: number, shutdownSeconds: number): HttpLimits {
  const requestTimeoutMs = requestSeconds * 1000;
  return {
    requestTimeoutMs,
    headersTimeoutMs: Math.min(10_000, Math.max(1_000, Math.floor(requestTimeoutMs / 3))),
    // Longer than the request's own bound, so a stalled body is answered 408 before the socket is dropped.
    idleTimeoutMs: requestTimeoutMs + 5_000,
    keepAliveTimeoutMs: 5_000,
    shutdownTimeoutMs: shutdownSeconds * 1000,
  };
}

function parseSwitch(value: string, flag: string): boolean {
  if (value === 'true' || value === 'on' || value === '1') return true;
  if (value === 'false' || value === 'off' || value === '0') return false;
  throw new ConfigError(`--${flag} must be true or false`);
}

/** Digits only: a bare coercion would also read ' ' as 0, '0x50' as 80 and '1e3' as 1000. */
const portSchema = z.string().regex(/^[0-9]{1,5}$/).transform(Number).pipe(z.number().int().min(0).max(65535));

function parseWorkers(value: string, cores: number): number {
  if (value === 'auto') return Math.max(1, cores);
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError(`--workers must be a whole number from 1 to 256, or "auto"`);
  return n;
}

function parseTrustProxy(value: string): Config['trustProxy'] {
  if (value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]{1,2}$/.test(value)) return Number(value);
  const entries = value.split(',').map((s) => s.trim());
  const valid = entries.length > 0 && entries.every((entry) => {
    const [address, bits, ...rest] = entry.split('/');
    return rest.length === 0 && isIP(address!) !== 0 && (bits === undefined || /^[0-9]{1,3}$/.test(bits));
  });
  if (!valid) throw new ConfigError('--trust-proxy must be true, false, a hop count, or a comma-separated list of addresses and CIDR ranges');
  return entries;
}

function parseIssuer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('--issuer must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('--issuer must use http or https');
  // An empty `?` or `#` leaves url.search and url.hash empty but stays in url.href.
  if (url.search || url.hash || /[?#]/.test(value)) throw new ConfigError('--issuer must have no query or fragment');
  // Every route and every redirect within Latchkey starts at `/`: an issuer with a path would
  // advertise URLs the server does not serve.
  if (url.pathname !== '/') throw new ConfigError('--issuer must be an origin such as https://auth.example.com, without a path');
  if (url.username || url.password) throw new ConfigError('--issuer must not contain user information');
  return url.href.replace(/\/$/, '');
}

/**
 * Resolves settings: each flag wins over its environment variable, which wins over the default.
 * `cores` is passed in so that `--workers auto` stays a pure function of its inputs.
 */
export function resolveConfig(flags: RawSettings, env: NodeJS.ProcessEnv, cores: number, cwd = process.cwd()): Config {
  const pick = (key: keyof RawSettings): string | undefined => {
    const fromFlag = flags[key];
    if (fromFlag !== undefined && fromFlag !== '') return fromFlag;
    const fromEnv = env[ENV_NAMES[key]];
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  };

  const portResult = portSchema.safeParse(pick('port') ?? '8080');
  if (!portResult.success) throw new ConfigError('--port must be a whole number from 0 to 65535');
  const port = portResult.data;

  const dataDirRaw = pick('dataDir') ?? './data';
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);

  const databaseUrl = pick('databaseUrl') ?? `sqlite:${dataDir}/latchkey.db`;
  if (!databaseUrl.startsWith('sqlite:') && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('--database-url must be sqlite:PATH or postgres://…');
  }

  const signingAlg = pick('signingAlg') ?? 'RS256';
  if (!(SIGNING_ALGS as readonly string[]).includes(signingAlg)) {
    throw new ConfigError(`--signing-alg must be one of ${SIGNING_ALGS.join(', ')}`);
  }
  const logLevel = pick('logLevel') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }

  const requirePkce = pick('requirePkce') ?? 'public';
  if (requirePkce !== 'public' && requirePkce !== 'all') throw new ConfigError('--require-pkce must be "public" or "all"');

  const issuerRaw = pick('issuer');
  return {
    port,
    host: pick('host') ?? '127.0.0.1',
    // With --port 0 the default issuer is completed once the real port is known (see serve).
    issuer: issuerRaw ? parseIssuer(issuerRaw) : `http://localhost:${port}`,
    dataDir,
    databaseUrl,
    masterKey: env.LATCHKEY_MASTER_KEY || undefined,
    workers: parseWorkers(pick('workers') ?? '1', cores),
    signingAlg: signingAlg as SigningAlg,
    logLevel: logLevel as LogLevel,
    trustProxy: parseTrustProxy(pick('trustProxy') ?? 'false'),
    accessTokenTtlSeconds: 3600,
    refreshTokenTtlSeconds: 30 * 24 * 3600,
    codeTtlSeconds: 60,
    sessionTtlSeconds: 8 * 3600,
    refreshReuseGraceSeconds: wholeNumber(pick('refreshReuseGrace') ?? '0', 'refresh-reuse-grace', 0, 300),
    requirePkce,
    metrics: parseSwitch(pick('metrics') ?? 'true', 'metrics'),
    rateLimits: {
      clientFailures: wholeNumber(pick('rateLimitClient') ?? '20', 'rate-limit-client', 1, 1_000_000),
      addressFailures: wholeNumber(pick('rateLimitAddress') ?? '100', 'rate-limit-address', 1, 1_000_000),
      windowSeconds: wholeNumber(pick('rateLimitWindow') ?? '60', 'rate-limit-window', 1, 86_400),
    },
    http: httpLimits(
      wholeNumber(pick('requestTimeout') ?? '30', 'request-timeout', 1, 3600),
      wholeNumber(pick('shutdownTimeout') ?? '10', 'shutdown-timeout', 0, 3600),
    ),
    broker: {
      refreshLockMs: 30_000,
      refreshIntervalMs: 10_000,
      credentialWaitMs: 5_000,
      retryBaseMs: 10_000,
      webhookIntervalMs: 1_000,
      webhookRetryForMs: 25 * 3600_000,
    },
  };
}

export function issuerWasGiven(flags: RawSettings, env: NodeJS.ProcessEnv): boolean {
  return Boolean(flags.issuer || env.LATCHKEY_ISSUER);
}
