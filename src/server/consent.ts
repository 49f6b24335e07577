import { AccessDenied } from '../core/errors.js';
import { matchRedirectUri } from '../core/redirect-uri.js';
import { newId } from '../crypto/secrets.js';
import type { InteractionRecord, ScopeDefinition } from '../store/records.js';
import { describeScopes } from './account.js';
import { authorizationResponseUrl, issueCode, rememberConsent, type AuthorizationRequest } from './authorize.js';
import type { ServerContext } from './context.js';
import type { Session } from './session.js';

/** How long a user has to answer the consent page. */
const INTERACTION_TTL_MS = 10 * 60 * 1000;

/** Parks a validated request until the user answers the consent page; returns its id. */
export async function startInteraction(ctx: ServerContext, session: Session, request: AuthorizationRequest): Promise<string> {
  const now = ctx.now();
  const id = newId();
  await ctx.store.interactions.create({ id, sessionHash: session.idHash, request: JSON.stringify(request), createdAt: now, expiresAt: now + INTERACTION_TTL_MS });
  return id;
}

/** The request parked by `startInteraction`, if the interaction exists and belongs to this session. */
function parkedRequest(interaction: InteractionRecord | undefined, session: Session): AuthorizationRequest | undefined {
  if (!interaction || interaction.sessionHash !== session.idHash) return undefined;
  return JSON.parse(interaction.request) as AuthorizationRequest;
}

export interface ConsentPrompt {
  clientName: string;
  apiName: string;
  scopes: ScopeDefinition[];
}

/** What the consent page shows; undefined when the request expired or belongs to another session. */
export async function consentPrompt(ctx: ServerContext, session: Session, interactionId: string): Promise<ConsentPrompt | undefined> {
  const request = parkedRequest(await ctx.store.interactions.get(interactionId, ctx.now()), session);
  if (!request) return undefined;
  const client = await ctx.store.clients.get(request.clientId);
  const api = await ctx.store.apis.getByIdentifier(request.resource);
  if (!client || !api) return undefined;
  return { clientName: client.name, apiName: api.name, scopes: describeScopes(api.scopes, request.scopes) };
}

/** Where the browser goes after the answer, or why the answer cannot be taken. */
export type ConsentOutcome = { redirectTo: string } | { problem: 'expired' | 'unregistered' };

/**
 * Takes the user's answer. The interaction is consumed, so an answer counts once even if the form is
 * sent twice; the client and redirect URI are checked again, since either may have changed meanwhile.
 */
export async function answerConsent(ctx: ServerContext, session: Session, interactionId: string, decision: 'approve' | 'deny'): Promise<ConsentOutcome> {
  const request = parkedRequest(await ctx.store.interactions.take(interactionId, ctx.now()), session);
  if (!request) return { problem: 'expired' };
  const client = await ctx.store.clients.get(request.clientId);
  if (!client || !matchRedirectUri(client.redirectUris, request.redirectUri)) return { problem: 'unregistered' };
  if (decision === 'deny') {
    return { redirectTo: authorizationResponseUrl(ctx, request.redirectUri, request.state, new AccessDenied('the user denied the request')) };
  }
  await rememberConsent(ctx, session.user.id, request);
  return { redirectTo: await issueCode(ctx, session.user.id, request) };
}
