// Owns: the Fastify application: plugins, schemas, problem handlers and every route, built from parts.
// Not here: constructing those parts (main.ts) or listening on a port (cli/server/serve.ts, main.ts).
// Invariant: every route carries a schema, so /openapi.json describes all of them.

import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parseDateTime } from '../domain/date-time.ts';
import type { OperationsService } from '../runtime/operations.ts';
import { AsyncOpsError } from '../domain/errors.ts';
import {
  installProblemHandlers,
  refuseShadowedMethods,
  sendFrameworkProblem,
  writeClientErrorProblem,
  writeExpectationFailed,
  writeRawProblem,
} from './problem.ts';
import { registerProblemDocs } from './problem-docs.ts';
import { installCacheControl } from './caching.ts';
import { OperationResourceSchema, ProblemSchema, WebhookEventSchema } from './schemas.ts';
import { openApiOptions } from './openapi.ts';
import { dropUnusedConnectionsOnClose, refuseWhileClosing } from './closing.ts';
import { installTenant } from './tenant.ts';
import { installAuth, type ApiKeyring } from './auth.ts';
import { corsReplyHeaders, installCors } from './cors.ts';
import { installCrossOriginProtection } from './cross-origin.ts';
import { installHostCheck } from './host-check.ts';
import type { AllowedHosts } from '../config/allowed-hosts.ts';
import type { CorsOrigins } from '../config/cors-origins.ts';
import { registerStreamTokenRoute, safeRequestLogger, type StreamTokens } from './stream-tokens.ts';
import { lazyChildLogger } from './request-logger.ts';
import { installRateLimits, type RateLimits } from './rate-limits.ts';
import { installBodyDepthLimit } from './input-limits.ts';
import { installJsonBodyParser } from './json-body.ts';
import { decimalNumbersOnly } from './decimal-numbers.ts';
import { registerOperationRoutes } from './operations-routes.ts';
import { registerOperatorRoutes } from './operator-routes.ts';
import { registerEventsRoute } from './events-route.ts';
import { DEFAULTS, DEFAULT_RATE_LIMITS } from '../config/settings.ts';
import { registerTaskRoutes } from './task-routes.ts';
import { registerHealthRoutes, type StoreProbe } from './health-routes.ts';
import { lazySerializers, lazyValidator } from './lazy-compilers.ts';

export interface HttpAppOptions {
  readonly service: OperationsService;
  /** For readiness (/readyz). */
  readonly store: StoreProbe;
  readonly logger: Logger;
  /** Largest accepted request body, bytes. */
  readonly bodyLimit: number;
  /** How long a request may take to arrive in full, headers and body (a body sent byte by byte held its connection for good). */
  readonly requestTimeoutMs: number;
  readonly version: string;
  /** Extra route groups (webhook deliveries, metrics, auth) registered by the composition root. */
  readonly plugins?: ReadonlyArray<(app: FastifyInstance) => void | Promise<void>>;
  /**
   * Called for every request before any other hook, so it sees those a hook answers too, and for those the framework
   * refuses before any hook (the request counter).
   */
  readonly countRequest?: ((request: FastifyRequest, reply: FastifyReply) => void) | undefined;
  /** Whether the node has begun to stop: /readyz is then a 503, while running attempts still finish. */
  readonly stopping?: (() => boolean) | undefined;
  readonly security?: HttpSecurity | undefined;
}

export interface HttpSecurity {
  /** Null: no API keys; every request is the default tenant. */
  readonly keyring: ApiKeyring | null;
  readonly rateLimits: RateLimits;
  readonly maxStreamsPerPrincipal: number;
  /** How often a quiet event stream sends a keepalive comment (default DEFAULTS.sseKeepalive). */
  readonly streamKeepaliveMs?: number | undefined;
  readonly maxBodyDepth: number;
  /** Origins browsers may call the API from (CORS); null or absent: none but its own. */
  readonly cors?: CorsOrigins | null;
  /** Stream tokens (POST /operations/{id}/stream-token): how a browser's EventSource streams on a server with keys. */
  readonly streamTokens?: StreamTokens | null;
  /** The host names the API answers to besides localhost and IP addresses (DNS rebinding); absent or `*`: any. */
  readonly allowedHosts?: AllowedHosts | undefined;
}

export const DEFAULT_HTTP_SECURITY: HttpSecurity = {
  keyring: null,
  rateLimits: DEFAULT_RATE_LIMITS,
  maxStreamsPerPrincipal: DEFAULTS.maxSsePerKey,
  maxBodyDepth: DEFAULTS.maxBodyDepth,
};

type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats = (addFormatsModule as unknown as { default: AddFormats }).default;

/**
 * Query strings, params and headers are text, so their validator coerces ("5" → 5); bodies are JSON
 * and must carry the right types, so theirs does not ({"type": 5} is a 400, not the type "5"). Text read as a number must
 * be in decimal digits (decimal-numbers.ts).
 */
/**
 * A date-time is one the domain reads (domain/date-time.ts: a real day, an instant a date-time can name, a leap second
 * as RFC 3339 allows it), as an embedder's submit judges it: ajv-formats' own took others and refused some of these.
 */
function withDateTime(ajv: Ajv): Ajv {
  return ajv.addFormat('date-time', { type: 'string', validate: (text: string) => parseDateTime(text) !== null });
}

function installValidators(app: FastifyInstance): void {
  // verbose: a date-time's refusal is worded from the value (fieldErrorsOf).
  const options = { allErrors: true, strict: false, removeAdditional: false, useDefaults: true, verbose: true } as const;
  const forBody = withDateTime(addFormats(new Ajv({ ...options, coerceTypes: false })));
  const forText = withDateTime(addFormats(new Ajv({ ...options, coerceTypes: 'array' })));
  app.setValidatorCompiler(({ schema, httpPart }) =>
    lazyValidator(() => (httpPart === 'body' ? forBody.compile(schema) : decimalNumbersOnly(forText.compile(schema), schema))),
  );
}

/**
 * The app whose routes answer under `options.service.basePath` (`''`, or a prefix such as `/async`). Every hook, parser
 * and handler lives in that prefixed context, so a part that needs a path within the API strips `app.prefix` from it.
 */
/** Node's defaults: headers within a minute, late requests looked for every 30 s. */
const HEADERS_TIMEOUT_MS = 60_000;
const CHECKING_INTERVAL_MS = 30_000;

export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const root = Fastify({
    // A stream token in a URL stays out of any log line that carries the request.
    loggerInstance: safeRequestLogger(options.logger),
    bodyLimit: options.bodyLimit,
    // Each route's reply serializers are built on first use (lazy-compilers.ts).
    schemaController: { compilersFactory: { buildSerializer: lazySerializers } },
    // Fastify's default is none at all, where Node's is 5 minutes. Node looks for late requests every
    // connectionsCheckingInterval, so that is a fraction of the timeout; the headers' own timeout may not exceed it.
    requestTimeout: options.requestTimeoutMs,
    http: {
      // A request without Host gets a problem from host-check.ts, not Node's bare 400.
      requireHostHeader: false,
      headersTimeout: Math.min(options.requestTimeoutMs, HEADERS_TIMEOUT_MS),
      connectionsCheckingInterval: Math.min(Math.max(Math.floor(options.requestTimeoutMs / 4), 250), CHECKING_INTERVAL_MS),
    },
    // Per-request access logs would double the log volume of a polling API; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify's own 503 while closing is not a problem document; refuseWhileClosing sends one instead.
    return503OnClosing: false,
    // Long ids reach the route and its schema (a 400 problem) instead of the router's bare 414.
    routerOptions: { maxParamLength: 1000 },
    // A request's child logger is made when it logs, not for every request (request-logger.ts).
    childLoggerFactory: lazyChildLogger,
    // What fails before any route or hook is reached is a problem too (problem.ts).
    frameworkErrors: (error, request, reply) => {
      options.countRequest?.(request, reply);
      sendFrameworkProblem(error, request, reply, options.service.basePath, corsReplyHeaders(options.security?.cors ?? null, request.headers.origin));
    },
    clientErrorHandler: (error, socket) => writeClientErrorProblem(error, socket, options.service.basePath),
  }) as unknown as FastifyInstance;
  root.server.on('checkExpectation', (request, response) => writeExpectationFailed(request, response, options.service.basePath));
  root.server.on('connect', (request: IncomingMessage, socket: Duplex) =>
    answerConnect(root.server, request, socket, options.service.basePath, options.requestTimeoutMs),
  );
  const paths = new Set<string>();
  root.addHook('onRoute', (route) => void paths.add(route.url.slice(options.service.basePath.length)));
  ROUTE_PATHS.set(root, paths);
  dropUnusedConnectionsOnClose(root, options.service.basePath);
  await root.register((api) => registerApi(api, options), { prefix: options.service.basePath });
  return root;
}

const ROUTE_PATHS = new WeakMap<FastifyInstance, ReadonlySet<string>>();

/**
 * A CONNECT asks for a tunnel, which Node hands over as a bare socket and, with no listener, closes without a word. This
 * server is no proxy: the request goes through the app like any other, so it is answered as a method the path does not
 * take (405 with `Allow`) or a path there is not (404), and the connection closes after the answer. A tunnel to an
 * address (`CONNECT host:port`, the form a proxy takes) names no path: a 400 saying so. The socket is Node's no more
 * (no error listener, no timeouts, not among the server's connections): a reset is dropped here, and the socket is
 * destroyed once answered, or after the request timeout if the answer never goes.
 */
function answerConnect(server: Server, request: IncomingMessage, socket: Duplex, basePath: string, timeoutMs: number): void {
  socket.on('error', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), timeoutMs).unref();
  socket.once('close', () => clearTimeout(timer));
  const response = new ServerResponse(request);
  response.shouldKeepAlive = false;
  response.assignSocket(socket as Socket);
  response.once('finish', () => (socket as Socket).destroySoon());
  if (request.url?.startsWith('/')) return void server.emit('request', request, response);
  writeRawProblem(
    request,
    response,
    basePath,
    new AsyncOpsError('validation_failed', 'CONNECT asks for a tunnel, and this server is no proxy: send requests to its paths'),
  );
}

/**
 * The first segments of the paths `app` (from buildHttpApp) answers below its prefix (`operations`, `docs`, `healthz`…):
 * what an app that mounts it without a prefix forwards to it, and no more, so the app's own 404s stay its own.
 */
export function firstPathSegments(app: FastifyInstance): string[] {
  const segments = [...(ROUTE_PATHS.get(app) ?? [])]
    .map((path) => path.split('/')[1] ?? '')
    .filter((segment) => segment !== '' && !segment.startsWith(':') && segment !== '*');
  return [...new Set(segments)].sort();
}

async function registerApi(app: FastifyInstance, options: HttpAppOptions): Promise<void> {
  installValidators(app);
  // Bodies are JSON; Fastify would otherwise hand a text/plain body to the routes as a string.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  const routeMethods = installProblemHandlers(app);
  const countRequest = options.countRequest;
  if (countRequest !== undefined) {
    app.addHook('onRequest', (request, reply, done) => {
      countRequest(request, reply);
      done();
    });
  }
  // Before anything answers: a request for no host or another (DNS rebinding) gets nothing of this server's, a preflight included.
  installHostCheck(app, options.security?.allowedHosts ?? '*');
  // First of the other onRequest hooks: a preflight is answered there, before the closing check, authentication and limits.
  await installCors(app, options.security?.cors ?? null);
  // Right after CORS: a POST from a page on another site is refused before anything reads it (CSRF).
  installCrossOriginProtection(app, options.security?.cors ?? null);
  installCacheControl(app);
  refuseWhileClosing(app);
  // Before any route, so their hooks cover every route (swagger-ui's included).
  const security = options.security ?? DEFAULT_HTTP_SECURITY;
  installTenant(app, security.keyring === null);
  installAuth(app, security.keyring, security.streamTokens ?? null);
  await installRateLimits(app, security.rateLimits);
  refuseShadowedMethods(app, routeMethods);
  installBodyDepthLimit(app, security.maxBodyDepth);
  await app.register(
    swagger,
    openApiOptions({
      version: options.version,
      tasks: options.service.registry.list(),
      basePath: app.prefix,
      hostChecked: (options.security?.allowedHosts ?? '*') !== '*',
    }),
  );
  app.addSchema(OperationResourceSchema);
  app.addSchema(ProblemSchema);
  app.addSchema(WebhookEventSchema);
  // indexPrefix: the page's asset links are absolute, from routePrefix alone, so under a prefix they need it too.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // Its default policy asks the browser to load every asset over https, so on a plain-http origin other than
    // localhost (a LAN address, a compose service's name) the page was blank; and it lets images come from the spec
    // validator's site, which this page never shows (validatorUrl is null).
    transformStaticCSP: (policy: string) => policy.replace(/\s*upgrade-insecure-requests;?/, '').replace(' validator.swagger.io', ''),
    indexPrefix: app.prefix,
    // swagger-ui sends /docs/static/index.html to /docs/ by rewriting the URL's end, which a query string or a
    // percent-encoded spelling hides: it redirected to itself, for ever. That route is answered here, by route.
    uiHooks: {
      onRequest: (request, reply, done) => {
        if (request.routeOptions.url === `${app.prefix}/docs/static/index.html`) reply.redirect(`${app.prefix}/docs/`);
        else done();
      },
    },
  });
  const openApiSchema = {
    tags: ['documentation'],
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI 3.1 document (rendered at /docs)',
    response: { 200: { description: 'The OpenAPI document', content: { 'application/json': { schema: { type: 'object', description: 'OpenAPI 3.1' } } } } },
  };
  // Sent as text: a response schema would serialise the document down to what it declares.
  app.get('/openapi.json', { schema: openApiSchema }, async (_request, reply) => reply.type('application/json').send(JSON.stringify(app.swagger())));
  registerProblemDocs(app);
  for (const plugin of options.plugins ?? []) await plugin(app);
  registerHealthRoutes(app, options.store, options.stopping);
  registerOperationRoutes(app, options.service);
  registerOperatorRoutes(app, options.service);
  registerEventsRoute(app, options.service, {
    maxStreamsPerPrincipal: security.maxStreamsPerPrincipal,
    stalledMs: options.requestTimeoutMs,
    keepaliveMs: security.streamKeepaliveMs,
  });
  if (security.streamTokens) registerStreamTokenRoute(app, options.service, security.streamTokens);
  registerTaskRoutes(app, options.service);
}
