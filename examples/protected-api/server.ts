import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { accessTokenOf, createResourceServer, requireToken, type ResourceServerOptions } from 'latchkey';

export interface ExampleApiOptions extends ResourceServerOptions {
  logger?: boolean;
}

interface Project {
  id: string;
  name: string;
  createdBy: string;
  createdAt: string;
}

/** A small projects API protected by Latchkey access tokens; projects live in memory. */
export function buildExampleApi(options: ExampleApiOptions): FastifyInstance {
  const { logger = false, ...resourceServerOptions } = options;
  const resourceServer = createResourceServer(resourceServerOptions);
  const projects: Project[] = [];
  const app = Fastify({ logger });

  app.get('/v1/projects', { preHandler: requireToken(resourceServer, ['read:projects']) }, async () => ({ projects }));

  app.post<{ Body: { name: string } }>(
    '/v1/projects',
    {
      preHandler: requireToken(resourceServer, ['write:projects']),
      schema: {
        body: {
          type: 'object',
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
          required: ['name'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const project: Project = {
        id: randomUUID(),
        name: request.body.name,
        createdBy: accessTokenOf(request).sub,
        createdAt: new Date().toISOString(),
      };
      projects.push(project);
      return reply.code(201).send(project);
    },
  );

  return app;
}

function optionsFromEnv(env: NodeJS.ProcessEnv): ExampleApiOptions {
  const issuer = env.LATCHKEY_ISSUER;
  if (!issuer) throw new Error('LATCHKEY_ISSUER must be set to the Latchkey issuer URL');
  const clientId = env.INTROSPECTION_CLIENT_ID;
  const clientSecret = env.INTROSPECTION_CLIENT_SECRET;
  return {
    issuer,
    audience: env.API_AUDIENCE ?? 'https://api.example.com',
    ...(clientId && clientSecret && { introspection: { clientId, clientSecret } }),
    logger: true,
  };
}

async function main(): Promise<void> {
  const app = buildExampleApi(optionsFromEnv(process.env));
  const port = Number(process.env.PORT ?? 3000);
  await app.listen({ host: '127.0.0.1', port });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
}

// Listen only when run as a program, so tests can import buildExampleApi.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
