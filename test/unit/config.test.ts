import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, issuerWasGiven, resolveConfig, type RawSettings } from '../../src/config.js';

const CWD = resolve('/srv/latchkey');

function config(flags: RawSettings = {}, env: NodeJS.ProcessEnv = {}, cores = 4) {
  return resolveConfig(flags, env, cores, CWD);
}

describe('resolveConfig defaults', () => {
  it('uses the documented defaults', () => {
    const c = config();
    const dataDir = resolve(CWD, 'data');
    expect(c).toEqual({
      port: 8080,
      host: '127.0.0.1',
      issuer: 'http://localhost:8080',
      dataDir,
      databaseUrl: `sqlite:${dataDir}/latchkey.db`,
      masterKey: undefined,
      workers: 1,
      signingAlg: 'RS256',
      logLevel: 'info',
      trustProxy: false,
      accessTokenTtlSeconds: 3600,
      refreshTokenTtlSeconds: 30 * 24 * 3600,
      codeTtlSeconds: 60,
      sessionTtlSeconds: 8 * 3600,
      refreshReuseGraceSeconds: 0,
      requirePkce: 'public',
      metrics: true,
      rateLimits: { clientFailures: 20, addressFailures: 100, windowSeconds: 60 },
      http: { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, idleTimeoutMs: 35_000, keepAliveTimeoutMs: 5_000, shutdownTimeoutMs: 10_000 },
      broker: {
        refreshLockMs: 30_000,
        refreshIntervalMs: 10_000,
        credentialWaitMs: 5_000,
        retryBaseMs: 10_000,
        webhookIntervalMs: 1_000,
        webhookRetryForMs: 25 * 3600_000,
      },
    });
  });

  it('resolves a relative data dir against cwd and keeps an absolute one', () => {
    expect(config({ dataDir: 'state/x' }).dataDir).toBe(resolve(CWD, 'state/x'));
    const abs = resolve('/var/lib/latchkey');
    expect(config({ dataDir: abs }).dataDir).toBe(abs);
  });

  it('derives the default database url from the data dir', () => {
    const abs = resolve('/var/lib/latchkey');
    expect(config({ dataDir: abs }).databaseUrl).toBe(`sqlite:${abs}/latchkey.db`);
  });

  it('derives the default issuer from the port', () => {
    expect(config({ port: '9000' }).issuer).toBe('http://localhost:9000');
  });

  it('uses process.cwd() when no cwd is given', () => {
    expect(resolveConfig({}, {}, 1).dataDir).toBe(resolve(process.cwd(), 'data'));
  });
});

describe('resolveConfig precedence: flag > env > default', () => {
  const cases: Array<{ key: keyof RawSettings; env: string; flag: string; envValue: string; read: (c: ReturnType<typeof config>) => unknown; fromFlag: unknown; fromEnv: unknown; fallback: unknown }> = [
    { key: 'port', env: 'LATCHKEY_PORT', flag: '9001', envValue: '9002', read: (c) => c.port, fromFlag: 9001, fromEnv: 9002, fallback: 8080 },
    { key: 'host', env: 'LATCHKEY_HOST', flag: '0.0.0.0', envValue: '::', read: (c) => c.host, fromFlag: '0.0.0.0', fromEnv: '::', fallback: '127.0.0.1' },
    {
      key: 'issuer',
      env: 'LATCHKEY_ISSUER',
      flag: 'https://flag.example',
      envValue: 'https://env.example',
      read: (c) => c.issuer,
      fromFlag: 'https://flag.example',
      fromEnv: 'https://env.example',
      fallback: 'http://localhost:8080',
    },
    {
      key: 'dataDir',
      env: 'LATCHKEY_DATA_DIR',
      flag: 'flagdir',
      envValue: 'envdir',
      read: (c) => c.dataDir,
      fromFlag: resolve(CWD, 'flagdir'),
      fromEnv: resolve(CWD, 'envdir'),
      fallback: resolve(CWD, 'data'),
    },
    {
      key: 'databaseUrl',
      env: 'LATCHKEY_DATABASE_URL',
      flag: 'postgres://flag/db',
      envValue: 'postgresql://env/db',
      read: (c) => c.databaseUrl,
      fromFlag: 'postgres://flag/db',
      fromEnv: 'postgresql://env/db',
      fallback: `sqlite:${resolve(CWD, 'data')}/latchkey.db`,
    },
    { key: 'workers', env: 'LATCHKEY_WORKERS', flag: '3', envValue: '5', read: (c) => c.workers, fromFlag: 3, fromEnv: 5, fallback: 1 },
    { key: 'signingAlg', env: 'LATCHKEY_SIGNING_ALG', flag: 'ES256', envValue: 'EdDSA', read: (c) => c.signingAlg, fromFlag: 'ES256', fromEnv: 'EdDSA', fallback: 'RS256' },
    { key: 'logLevel', env: 'LATCHKEY_LOG_LEVEL', flag: 'debug', envValue: 'warn', read: (c) => c.logLevel, fromFlag: 'debug', fromEnv: 'warn', fallback: 'info' },
  ];

  it.each(cases)('$key', ({ key, env, flag, envValue, read, fromFlag, fromEnv, fallback }) => {
    expect(read(config({ [key]: flag }, { [env]: envValue }))).toEqual(fromFlag);
    expect(read(config({ [key]: flag }, {}))).toEqual(fromFlag);
    expect(read(config({}, { [env]: envValue }))).toEqual(fromEnv);
    expect(read(config({}, {}))).toEqual(fallback);
    // An empty flag or variable counts as not given.
    expect(read(config({ [key]: '' }, { [env]: envValue }))).toEqual(fromEnv);
    expect(read(config({}, { [env]: '' }))).toEqual(fallback);
  });

  it('ignores unrelated environment variables', () => {
    expect(config({}, { PORT: '1234', HOST: '0.0.0.0' })).toMatchObject({ port: 8080, host: '127.0.0.1' });
  });

  it('reads the master key from the environment only', () => {
    expect(config({}, { LATCHKEY_MASTER_KEY: 'abc' }).masterKey).toBe('abc');
    expect(config({}, { LATCHKEY_MASTER_KEY: '' }).masterKey).toBeUndefined();
  });
});

describe('resolveConfig workers', () => {
  it('uses the cores argument for auto', () => {
    expect(config({ workers: 'auto' }, {}, 6).workers).toBe(6);
    expect(config({}, { LATCHKEY_WORKERS: 'auto' }, 3).workers).toBe(3);
  });

  it('uses at least one worker for auto', () => {
    expect(config({ workers: 'auto' }, {}, 0).workers).toBe(1);
  });

  it('accepts 1 and 256', () => {
    expect(config({ workers: '1' }).workers).toBe(1);
    expect(config({ workers: '256' }).workers).toBe(256);
  });

  it.each(['0', '-1', '257', '1.5', 'many', 'AUTO'])('refuses %j', (workers) => {
    expect(() => config({ workers })).toThrow(ConfigError);
  });
});

describe('resolveConfig validation', () => {
  it('accepts ports 0 and 65535', () => {
    expect(config({ port: '0' }).port).toBe(0);
    expect(config({ port: '65535' }).port).toBe(65535);
  });

  it.each(['-1', '65536', '80.5', 'http', ' ', '0x50', '1e3', '8080abc'])('refuses the port %j', (port) => {
    expect(() => config({ port })).toThrow(ConfigError);
    expect(() => config({}, { LATCHKEY_PORT: port })).toThrow(ConfigError);
  });

  it.each(['HS256', 'rs256', 'none', 'PS256'])('refuses the signing alg %j', (signingAlg) => {
    expect(() => config({ signingAlg })).toThrow(ConfigError);
  });

  it.each(['ES256', 'EdDSA', 'RS256'])('accepts the signing alg %s', (signingAlg) => {
    expect(config({ signingAlg }).signingAlg).toBe(signingAlg);
  });

  it.each(['trace', 'INFO', 'verbose'])('refuses the log level %j', (logLevel) => {
    expect(() => config({ logLevel })).toThrow(ConfigError);
  });

  it.each(['mysql://db', 'postgres:/db', '/var/db.sqlite', 'sqlite3:x', 'http://db'])('refuses the database url %j', (databaseUrl) => {
    expect(() => config({ databaseUrl })).toThrow(ConfigError);
  });

  it.each(['sqlite:/tmp/x.db', 'sqlite::memory:', 'postgres://u:p@h:5432/db', 'postgresql://h/db'])('accepts the database url %j', (databaseUrl) => {
    expect(config({ databaseUrl }).databaseUrl).toBe(databaseUrl);
  });

  it.each([
    ['not a URL', 'issuer.example'],
    ['a relative path', '/issuer'],
    ['another scheme', 'ftp://issuer.example'],
    ['a query', 'https://issuer.example/?x=1'],
    ['a fragment', 'https://issuer.example/#x'],
    ['an empty query', 'https://issuer.example/?'],
    ['an empty fragment', 'https://issuer.example/#'],
  ])('refuses an issuer with %s', (_name, issuer) => {
    expect(() => config({ issuer })).toThrow(ConfigError);
  });

  it('trims a trailing slash from the issuer', () => {
    expect(config({ issuer: 'https://issuer.example/' }).issuer).toBe('https://issuer.example');
    expect(config({ issuer: 'http://localhost:3000' }).issuer).toBe('http://localhost:3000');
  });

  it('throws errors carrying the invalid_config code', () => {
    try {
      config({ port: 'x' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('invalid_config');
    }
  });
});

describe('issuerWasGiven', () => {
  it('is true for a flag or the environment variable, false otherwise', () => {
    expect(issuerWasGiven({ issuer: 'https://a' }, {})).toBe(true);
    expect(issuerWasGiven({}, { LATCHKEY_ISSUER: 'https://a' })).toBe(true);
    expect(issuerWasGiven({}, {})).toBe(false);
    expect(issuerWasGiven({ issuer: '' }, { LATCHKEY_ISSUER: '' })).toBe(false);
  });
});

describe('--trust-proxy', () => {
  it('is off by default and reads true, false, a hop count or a list of addresses and ranges', () => {
    expect(config().trustProxy).toBe(false);
    expect(config({ trustProxy: 'true' }).trustProxy).toBe(true);
    expect(config({}, { LATCHKEY_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(config({ trustProxy: '10.0.0.0/8, 127.0.0.1,::1' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', '::1']);
    expect(config({ trustProxy: 'false' }, { LATCHKEY_TRUST_PROXY: 'true' }).trustProxy).toBe(false);
  });

  it('refuses anything else', () => {
    for (const value of ['yes', 'proxy.internal', '10.0.0.0/8/1', '10.0.0.1,', '999', '10.0.0.0/abc']) {
      expect(() => config({ trustProxy: value }), value).toThrow(ConfigError);
    }
  });
});

describe('--issuer', () => {
  it('must be an origin: no path, no user information', () => {
    expect(config({ issuer: 'https://auth.example.com/' }).issuer).toBe('https://auth.example.com');
    for (const value of ['https://example.com/auth', 'https://example.com/auth/', 'https://user:pw@auth.example.com']) {
      expect(() => config({ issuer: value }), value).toThrow(ConfigError);
    }
  });
});
