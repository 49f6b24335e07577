import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The one account the provider knows; every interaction signs it in. */
export const OIDC_ACCOUNT = { sub: 'oidc-user-7f3a', email: 'ada@example.org' };
export const OIDC_SCOPES = ['openid', 'email', 'offline_access'];

export interface OidcProvider {
  /** http://127.0.0.1:PORT, as in its discovery document. */
  issuer: string;
  client: { client_id: string; client_secret: string };
  /** The provider's userinfo endpoint, called with `accessToken`. */
  userinfo(accessToken: string): Promise<Response>;
  /** RFC 7662 introspection as the client: `active` is false for a revoked, used or unknown token. */
  introspect(token: string): Promise<{ active: boolean; [claim: string]: unknown }>;
  stop(): Promise<void>;
}

/**
 * A real OpenID provider (oidc-provider, panva) on 127.0.0.1 and a free port, with one confidential
 * client for `redirectUri`. PKCE is required, refresh tokens rotate on every use, and revocation and
 * introspection are on. Its login and consent are finished programmatically by a small interaction
 * route beside it (the documented `interactions.url` + `interactionFinished` pattern): login signs in
 * OIDC_ACCOUNT, consent grants the scopes the client asked for.
 */
export async function startOidcProvider(options: {
  redirectUri: string;
  accessTokenTtlSeconds: number;
  /**
   * Whether the ID token carries the email too. By default it does; when false the provider keeps
   * to OpenID Connect Core §5.4, where a code flow gets scope claims from userinfo only.
   */
  emailInIdToken?: boolean;
}): Promise<OidcProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const client = { client_id: `broker-${randomBytes(4).toString('hex')}`, client_secret: randomBytes(24).toString('base64url') };
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        ...client,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: OIDC_SCOPES.join(' '),
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: options.emailInIdToken === false,
    findAccount: (_ctx: unknown, sub: string) =>
      sub === OIDC_ACCOUNT.sub ? { accountId: sub, claims: async () => ({ sub, email: OIDC_ACCOUNT.email, email_verified: true }) } : undefined,
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    pkce: { required: () => true },
    rotateRefreshToken: () => true,
    ttl: { AccessToken: options.accessTokenTtlSeconds, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 24 * 3600, Interaction: 600, Session: 3600, Grant: 24 * 3600 },
  });
  const oidc = provider.callback();

  /** Finishes the pending interaction: login as OIDC_ACCOUNT, or consent to what was asked. */
  const interaction = async (req: IncomingMessage, res: ServerResponse) => {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      return provider.interactionFinished(req, res, { login: { accountId: OIDC_ACCOUNT.sub } }, { mergeWithLastSubmission: false });
    }
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };
  handler = (req, res) => {
    if (req.method === 'GET' && req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
      return;
    }
    oidc(req, res);
  };

  const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
  return {
    issuer,
    client,
    userinfo: (accessToken) => fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } }),
    introspect: async (token) => {
      const response = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (response.status !== 200) throw new Error(`introspection answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as { active: boolean };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
