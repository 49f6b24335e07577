import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CatalogTemplateError, fillTemplate } from '../../src/broker/catalog/catalog.js';
import { BrokerError, parseInput } from '../../src/broker/errors.js';

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Host-ish text salted with every character that could move a URL to another host, path or scheme. */
const hostileValue = fc
  .array(
    fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom('acme', 'evil.com', 'a-b', '0x7f', '127.0.0.1', 'xn--bcher-kva', '.', '-', 'A', '9') },
      { weight: 3, arbitrary: fc.constantFrom('/', '@', ':', '?', '#', '\\', '%', '%2F', '[', ']', ' ', '\t', '\n', '{', '}', 'https://', '..', '。', 'é', '\u0000') },
      { weight: 1, arbitrary: codeUnit },
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((parts) => parts.join(''));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('fillTemplate (property)', () => {
  it('a host-part value either is refused or ends up entirely inside the host, leaving scheme, port, path and query as templated', () => {
    const template = fc.record({
      prefix: fc.constantFrom('', 'login.', 'a-'),
      suffix: fc.constantFrom('', '.example.com', '.myshopify.com', '-api.example.com'),
      port: fc.constantFrom('', ':8443'),
      rest: fc.constantFrom('', '/', '/oauth/token', '/a/b?x=1&y=2'),
    });
    fc.assert(
      fc.property(template, hostileValue, ({ prefix, suffix, port, rest }, value) => {
        const url = `https://${prefix}{v}${suffix}${port}${rest}`;
        let filled: string;
        try {
          filled = fillTemplate(url, { v: value });
        } catch (err) {
          expect(err).toBeInstanceOf(CatalogTemplateError);
          return;
        }
        expect(filled).toBe(url.replace('{v}', value));
        // Nothing in an accepted value can end the host or add credentials, a port, a path, a query or a fragment.
        expect(value).not.toMatch(/[/@:?#\\%[\]\s{}]/);
        const parsed = new URL(filled);
        const reference = new URL(`https://host.example${port}${rest}`);
        expect(parsed.protocol).toBe('https:');
        expect(parsed.username + parsed.password).toBe('');
        expect(parsed.port).toBe(reference.port);
        expect(parsed.pathname + parsed.search + parsed.hash).toBe(reference.pathname + reference.search + reference.hash);
        expect(parsed.hostname.endsWith(suffix.toLowerCase())).toBe(true);
      }),
    );
  });

  it('an {issuer} value is used only when it is exactly an http(s) origin', () => {
    const issuer = fc
      .tuple(
        fc.constantFrom('https://', 'http://', 'HTTPS://', 'ftp://', 'javascript:', '', 'https:/', 'https:\\\\'),
        fc.constantFrom('', 'user@', 'u:p@'),
        fc.constantFrom('auth.example.com', 'AUTH.example.com', '127.0.0.1', '[::1]', '0x7f.1', 'a..b', 'xn--bcher-kva.example', 'é.example'),
        fc.constantFrom('', ':443', ':80', ':8080', ':0', ':99999', ':'),
        fc.constantFrom('', '', '/', '/x', '?a', '#f', '.', ' ', '\t', '%2F', '@evil.example'),
      )
      .map((parts) => parts.join(''));
    const rest = fc.constantFrom('', '/oauth/token', '/.well-known/openid-configuration');
    fc.assert(
      fc.property(issuer, rest, (value, path) => {
        let filled: string;
        try {
          filled = fillTemplate(`{issuer}${path}`, { issuer: value });
        } catch (err) {
          expect(err).toBeInstanceOf(CatalogTemplateError);
          return;
        }
        expect(filled).toBe(value + path);
        const parsed = new URL(filled);
        expect(['https:', 'http:']).toContain(parsed.protocol);
        expect(parsed.origin).toBe(value);
        expect(parsed.username + parsed.password).toBe('');
        expect(parsed.pathname).toBe(new URL(`https://x.example${path}`).pathname);
      }),
    );
  });

  it('a missing variable is refused by name, and never read from the prototype', () => {
    const name = fc.oneof(fc.constantFrom('constructor', 'tostring', 'valueof', 'hasownproperty', 'shop'), fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/));
    const values = fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), fc.constantFrom('acme', 'a.b'), { maxKeys: 3 });
    fc.assert(
      fc.property(name, values, (variable, given) => {
        fc.pre(!Object.prototype.hasOwnProperty.call(given, variable));
        const err = thrown(() => fillTemplate(`https://{${variable}}.example.com/oauth/token`, given));
        expect(err).toBeInstanceOf(CatalogTemplateError);
        expect((err as CatalogTemplateError).variable).toBe(variable);
      }),
    );
  });

  it('a placeholder outside the host is refused whatever its value', () => {
    const where = fc.constantFrom('https://api.example.com/{v}/token', 'https://api.example.com/token?tenant={v}', 'https://api.example.com/token#{v}', 'https://{v}@api.example.com/', 'https://api.example.com:{v}/');
    fc.assert(
      fc.property(where, fc.oneof(fc.constantFrom('acme', '443', 'a.b'), hostileValue), (url, value) => {
        expect(thrown(() => fillTemplate(url, { v: value }))).toBeInstanceOf(CatalogTemplateError);
      }),
    );
  });
});

describe('parseInput (property)', () => {
  // The shape of the portal connection body in src/http/broker-routes.ts.
  const schema = z.strictObject({
    provider_name: z.string().regex(/^[a-z0-9_-]{1,64}$/),
    user_id: z.string().min(1).max(200).optional(),
    app_id: z.string().min(1).max(200).optional(),
    connection_config: z.record(z.string().regex(/^[a-z_][a-z0-9_]{0,63}$/), z.string().max(300)).optional(),
  });
  const loose = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constant(null), fc.boolean());
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.record(
      {
        provider_name: fc.oneof(fc.stringMatching(/^[a-z0-9_-]{1,8}$/), loose),
        user_id: fc.oneof(fc.string({ maxLength: 4 }), loose),
        app_id: fc.oneof(fc.string({ minLength: 1, maxLength: 4 }), loose),
        connection_config: fc.oneof(fc.dictionary(fc.oneof(fc.stringMatching(/^[a-z_][a-z0-9_]{0,4}$/), fc.string({ maxLength: 4 })), fc.oneof(fc.string({ maxLength: 4 }), loose), { maxKeys: 3 }), loose),
        extra: loose,
      },
      { requiredKeys: [] },
    ),
  );

  it('returns exactly what the schema accepts, and refuses the rest with a 400 invalid_request naming a field or the body', () => {
    fc.assert(
      fc.property(body, (input) => {
        const expected = schema.safeParse(input);
        let result: unknown;
        try {
          result = parseInput(schema, input);
        } catch (err) {
          expect(expected.success).toBe(false);
          expect(err).toBeInstanceOf(BrokerError);
          const e = err as BrokerError;
          expect(e.code).toBe('invalid_request');
          expect(e.status).toBe(400);
          expect(e.toJSON()).toEqual({ error: 'invalid_request', error_description: e.message });
          const first = expected.error!.issues[0]!;
          const where = first.path.length > 0 ? first.path.join('.') : 'body';
          expect(e.message.startsWith(`${where}: `)).toBe(true);
          expect(e.message.length).toBeGreaterThan(where.length + 2);
          return;
        }
        expect(expected.success).toBe(true);
        expect(result).toEqual(expected.data);
      }),
    );
  });
});
