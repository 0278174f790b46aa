// Owns: the Fastify application: plugins, schemas, problem handlers and every route, built from parts.
// Not here: constructing those parts (main.ts) or listening on a port (cli/serve.ts, main.ts).
// Invariant: every route carries a schema, so /openapi.json describes all of them.

import Fastify, { LogController, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Store } from '../store/store.ts';
import type { OperationsService } from '../runtime/operations.ts';
import { installProblemHandlers } from './problem.ts';
import { OperationResourceSchema, ProblemSchema } from './schemas.ts';
import { installTenant } from './tenant.ts';
import { installAuth, type ApiKeyring } from './auth.ts';
import { installRateLimits, DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limits.ts';
import { installBodyDepthLimit, DEFAULT_MAX_BODY_DEPTH } from './input-limits.ts';
import { installJsonBodyParser } from './json-body.ts';
import { registerOperationRoutes } from './operations-routes.ts';
import { registerEventsRoute, DEFAULT_MAX_STREAMS_PER_PRINCIPAL } from './events-route.ts';
import { registerTaskRoutes } from './task-routes.ts';
import { registerHealthRoutes } from './health-routes.ts';

export interface HttpAppOptions {
  readonly service: OperationsService;
  readonly store: Store;
  readonly logger: Logger;
  /** Largest accepted request body, bytes. */
  readonly bodyLimit: number;
  readonly version: string;
  /** Extra route groups (webhook deliveries, metrics, auth) registered by the composition root. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => void | Promise<void>>;
  readonly security?: HttpSecurity | undefined;
}

export interface HttpSecurity {
  /** Null: no API keys; every request is the default tenant. */
  readonly keyring: ApiKeyring | null;
  readonly rateLimits: RateLimits;
  readonly maxStreamsPerPrincipal: number;
  readonly maxBodyDepth: number;
}

export const DEFAULT_HTTP_SECURITY: HttpSecurity = {
  keyring: null,
  rateLimits: DEFAULT_RATE_LIMITS,
  maxStreamsPerPrincipal: DEFAULT_MAX_STREAMS_PER_PRINCIPAL,
  maxBodyDepth: DEFAULT_MAX_BODY_DEPTH,
};

type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

/**
 * Query strings, params and headers are text, so their validator coerces ("5" → 5); bodies are JSON
 * and must carry the right types, so theirs does not ({"type": 5} is a 400, not the type "5").
 */
function installValidators(app: FastifyInstance): void {
  const options = { allErrors: true, strict: false, removeAdditional: false, useDefaults: true } as const;
  const forBody = addFormats(new Ajv({ ...options, coerceTypes: false }));
  const forText = addFormats(new Ajv({ ...options, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? forBody : forText).compile(schema));
}

export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimit,
    // Per-request access logs would double the log volume of a polling API; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // Long ids reach the route and its schema (a 400 problem) instead of the router's bare 414.
    routerOptions: { maxParamLength: 1000 },
  }) as unknown as FastifyInstance;
  installValidators(app);
  // Bodies are JSON; Fastify would otherwise hand a text/plain body to the routes as a string.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  installProblemHandlers(app);
  installTenant(app);
  // Before any route, so their hooks cover every route (swagger-ui's included).
  const security = options.security ?? DEFAULT_HTTP_SECURITY;
  installAuth(app, security.keyring);
  await installRateLimits(app, security.rateLimits);
  installBodyDepthLimit(app, security.maxBodyDepth);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'asyncops',
        version: options.version,
        description: 'Async operations: POST work, get 202 Accepted with a Location, then poll, long-poll, stream or receive a signed webhook.',
      },
      tags: [{ name: 'operations' }, { name: 'task types' }, { name: 'webhook deliveries' }, { name: 'health' }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  app.addSchema(OperationResourceSchema);
  app.addSchema(ProblemSchema);
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  for (const plugin of options.plugins ?? []) await plugin(app);
  registerHealthRoutes(app, options.store);
  registerOperationRoutes(app, options.service);
  registerEventsRoute(app, options.service, { maxStreamsPerPrincipal: security.maxStreamsPerPrincipal });
  registerTaskRoutes(app, options.service);
  return app;
}
