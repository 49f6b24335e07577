export { createResourceServer, type AccessTokenClaims, type ResourceServer, type ResourceServerOptions } from './resource-server.js';
export {
  InsufficientScopeError,
  InvalidTokenError,
  MissingTokenError,
  ResourceServerError,
  TemporarilyUnavailableError,
  type ErrorBody,
} from './errors.js';
export { accessTokenOf, requireToken } from './fastify.js';
export { requireTokenMiddleware, type NextFunction, type TokenRequest } from './express.js';
export { withToken, type TokenHandler } from './node-http.js';
export type { WritableResponse } from './error-response.js';
export {
  Latchkey,
  type AuthorizationUrl,
  type Connection,
  type ConnectionConfig,
  type ConnectionFilter,
  type ConnectionKey,
  type ConnectionStatus,
  type CreateConnectionOptions,
  type CreateWebhookOptions,
  type CreatedWebhook,
  type Credentials,
  type GrantType,
  type LatchkeyOptions,
  type PortalConnection,
  type Provider,
  type RegisterProviderRequest,
  type RegisterProviderResult,
  type RevokeConnectionResult,
  type SuccessResult,
  type Webhook,
  type WebhookDelivery,
  type WebhookEvent,
  type WebhookEventType,
} from './broker-client.js';
export {
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  LatchkeyConnectionError,
  LatchkeyError,
  NeedsReauthError,
  NotFoundError,
  PendingError,
  ProviderUnavailableError,
  UnauthorizedError,
  errorFromResponse,
} from './broker-errors.js';
export {
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  WEBHOOK_SIGNATURE_HEADER,
  WebhookSignatureError,
  assertWebhookSignature,
  signWebhookPayload,
  verifyWebhookSignature,
  type VerifyWebhookSignatureOptions,
  type WebhookSignatureFailure,
} from './webhook-signature.js';
