import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { createApiKey, deleteApiKey, listApiKeys } from '../admin/api-keys.js';
import { createApi, deleteApi, listApis, showApi } from '../admin/apis.js';
import { listAuditEvents } from '../admin/audit.js';
import { MAX_SECRET_GRACE_SECONDS, createClient, deleteClient, listClients, rotateClientSecret, showClient, updateClient } from '../admin/clients.js';
import { AdminError, type AdminContext } from '../admin/context.js';
import { listSigningKeys, rotateSigningKeys } from '../admin/signing-keys.js';
import { createUser, deleteUser, listUsers } from '../admin/users.js';
import { digitsToNumber } from '../config.js';
import type { ServerContext } from '../server/context.js';
import { actorOf } from './actor.js';
import { requireApiKey } from './api-key-auth.js';
import { queryParams } from './form.js';

const text = z.string().max(2000);
const list = z.array(text).max(100);

const apiBody = z.strictObject({ identifier: text, name: text, scopes: list, default: z.boolean().optional() });
const clientBody = z.strictObject({
  name: text,
  redirect_uris: list.optional(),
  grant_types: list,
  scopes: list,
  public: z.boolean().optional(),
  auth_method: text.optional(),
});
const clientPatch = z.strictObject({ name: text.optional(), redirect_uris: list.optional(), grant_types: list.optional(), scopes: list.optional() });
const userBody = z.strictObject({ username: text, password: text, admin: z.boolean().optional() });
const apiKeyBody = z.strictObject({ name: text });
const rotateBody = z.strictObject({ alg: text.optional() }).optional();
const rotateSecretBody = z.strictObject({ grace_seconds: z.number().int().min(0).max(MAX_SECRET_GRACE_SECONDS).optional() }).optional();

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'body';
    throw new AdminError('invalid_request', `${where}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

type Params = { id: string };

/**
 * The admin REST API: the same operations as the CLI, under /api/v1/admin, for an API key. Bodies
 * are JSON; unknown fields are refused rather than ignored, so a typo cannot pass silently.
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  /** The context of a change, attributed in the audit trail to the API key and address that asked. */
  const by = (request: FastifyRequest): AdminContext => ({ ...ctx, actor: actorOf(request) });
  app.register(
    async (admin) => {
      admin.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
        if (!(await requireApiKey(ctx, request, reply))) return reply;
      });

      admin.get('/apis', async () => listApis(ctx));
      admin.post('/apis', async (request, reply) => {
        const body = parse(apiBody, request.body);
        return reply.status(201).send(await createApi(by(request), { identifier: body.identifier, name: body.name, scopes: body.scopes, isDefault: body.default ?? false }));
      });
      admin.get<{ Params: Params }>('/apis/:id', async (request) => showApi(ctx, request.params.id));
      admin.delete<{ Params: Params }>('/apis/:id', async (request) => deleteApi(by(request), request.params.id));

      admin.get('/clients', async () => listClients(ctx));
      admin.post('/clients', async (request, reply) => {
        const body = parse(clientBody, request.body);
        const created = await createClient(by(request), {
          name: body.name,
          redirectUris: body.redirect_uris ?? [],
          grantTypes: body.grant_types,
          scopes: body.scopes,
          isPublic: body.public ?? false,
          authMethod: body.auth_method,
        });
        return reply.status(201).send(created);
      });
      admin.get<{ Params: Params }>('/clients/:id', async (request) => showClient(ctx, request.params.id));
      admin.patch<{ Params: Params }>('/clients/:id', async (request) => {
        const body = parse(clientPatch, request.body);
        return updateClient(by(request), request.params.id, { name: body.name, redirectUris: body.redirect_uris, grantTypes: body.grant_types, scopes: body.scopes });
      });
      admin.post<{ Params: Params }>('/clients/:id/rotate-secret', async (request) =>
        rotateClientSecret(by(request), request.params.id, parse(rotateSecretBody, request.body)?.grace_seconds),
      );
      admin.delete<{ Params: Params }>('/clients/:id', async (request) => deleteClient(by(request), request.params.id));

      admin.get('/users', async () => listUsers(ctx));
      admin.post('/users', async (request, reply) => {
        const body = parse(userBody, request.body);
        return reply.status(201).send(await createUser(by(request), { username: body.username, password: body.password, isAdmin: body.admin ?? false }));
      });
      admin.delete<{ Params: Params }>('/users/:id', async (request) => deleteUser(by(request), request.params.id));

      admin.get('/keys', async () => listSigningKeys(ctx));
      admin.post('/keys/rotate', async (request) => rotateSigningKeys(by(request), parse(rotateBody, request.body)?.alg));

      admin.get('/api-keys', async () => listApiKeys(ctx));
      admin.post('/api-keys', async (request, reply) => reply.status(201).send(await createApiKey(by(request), parse(apiKeyBody, request.body))));
      admin.delete<{ Params: Params }>('/api-keys/:id', async (request) => deleteApiKey(by(request), request.params.id));

      admin.get('/audit', async (request) => {
        const q = queryParams(request);
        if (q.duplicates.length > 0) throw new AdminError('invalid_request', 'a query parameter was sent more than once');
        const limit = q.single.get('limit');
        return listAuditEvents(ctx, {
          type: q.single.get('type'),
          since: q.single.get('since'),
          limit: limit === undefined ? undefined : digitsToNumber(limit),
        });
      });
    },
    { prefix: '/api/v1/admin' },
  );
}
