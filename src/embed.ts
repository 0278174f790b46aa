// Owns: the package's public face over the composition root: createAsyncOps (a narrow handle: submit and read from
// code, serve, a request handler for Express or node:http), and the Fastify plugin that mounts the API in an app.
// Not here: building or wiring any part (main.ts), any route or rule (http/, runtime/).
// Invariant: an embedder reaches no part (store, service, pool): only what this file returns; the API answers under
// one prefix, whichever way it is mounted, and every link it sends carries that prefix.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULTS } from './config/settings.ts';
import {
  assembleAsyncOps,
  AsyncOpsError,
  validationFailed,
  DEFAULT_TENANT,
  IDEMPOTENCY_KEY_MAX,
  isIdempotencyKey,
  jsonTextAt,
  NESTED_TOO_DEEPLY,
  pollutingKeyPath,
  shownPointer,
  TENANT_NAME,
  tooDeepPath,
  unknownNameMessage,
  firstPathSegments,
  isUnder,
  problemType,
  statusHeaders,
  withoutStreamToken,
  type Assembly,
  type AsyncOpsOptions,
  type FieldError,
  type Operation,
} from './main.ts';

/** Options of an operation submitted from code; the same checks apply as to `POST /operations`. */
export interface SubmitOptions {
  /** POSTed a signed webhook when the operation ends. */
  readonly webhookUrl?: string | undefined;
  /** The same key and input within 24 h return the operation the first submit created. */
  readonly idempotencyKey?: string | undefined;
  readonly timeoutS?: number | undefined;
  readonly priority?: number | undefined;
  /** When it may start: a Date or an RFC 3339 string. */
  readonly runAt?: Date | string | undefined;
  readonly maxAttempts?: number | undefined;
  /** At most the type's `keyConcurrency` operations with the same key run at once, across every node (a customer id). */
  readonly concurrencyKey?: string | undefined;
  /** The tenant it belongs to, on a server with API keys (default: the tenant of requests without keys). */
  readonly tenant?: string | undefined;
}

/** What an app embedding asyncops does with it from code: submit work and read it, as the HTTP API would. */
export interface EmbeddedAsyncOps {
  /** Where the HTTP API answers: '' or a prefix such as `/async`; links in every operation start with it. */
  readonly prefix: string;
  /**
   * Submit an operation: its input is checked against the task's schema and `validate` (an AsyncOpsError with code
   * `validation_failed` otherwise), then stored. Resolves with the operation as `GET {prefix}/operations/{id}` shows it:
   * answer your client `202` with `Location: operation.links.self`.
   */
  submit(type: string, input: unknown, options?: SubmitOptions): Promise<Operation>;
  /** An operation as `GET {prefix}/operations/{id}` shows it; an AsyncOpsError with code `not_found` when there is none. */
  get(id: string, options?: { readonly tenant?: string | undefined }): Promise<Operation>;
}

/** A request listener that serves the API under its prefix; elsewhere it calls `next` (Express) or answers 404. */
export type AsyncOpsHandler = (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void) => void;

export interface AsyncOps extends EmbeddedAsyncOps {
  /**
   * The HTTP API for an app of your own: `app.use(asyncops.handler)` in Express (before any body parser, whose stream it
   * would find read), or call it from a `node:http` server. Call `start()` first. Without `prefix` it takes only the
   * API's own first path segments and passes the rest on.
   */
  readonly handler: AsyncOpsHandler;
  /** Open the store and start workers, the webhook dispatcher and retention. */
  start(): Promise<void>;
  /** Start, then serve the API on its own port; resolves with its URL. Default `127.0.0.1` and `--port`'s default. */
  listen(options?: { readonly port?: number | undefined; readonly host?: string | undefined }): Promise<string>;
  /** Stop taking work, let running handlers finish within the grace period, end streams, close the store. */
  close(): Promise<void>;
}

/** The Fastify plugin's options: AsyncOpsOptions, with `prefix` Fastify's own and the app's logger by default. */
export type AsyncOpsPluginOptions = AsyncOpsOptions;

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by the asyncops plugin: submit and read operations from your own routes. */
    asyncops: EmbeddedAsyncOps;
  }
}

/** Every option there is: the type makes this list name each key of AsyncOpsOptions, no more and no fewer. */
const OPTION_NAMES: Readonly<Record<keyof AsyncOpsOptions, true>> = {
  store: true,
  prefix: true,
  tasks: true,
  builtInTasks: true,
  workers: true,
  http: true,
  dashboard: true,
  concurrency: true,
  maxResultBytes: true,
  webhookSecrets: true,
  allowPrivateWebhooks: true,
  webhookScheduleMs: true,
  webhookTimeoutMs: true,
  webhookLeaseMs: true,
  webhookConcurrency: true,
  webhookConcurrencyPerDestination: true,
  retryBackoff: true,
  leaseMs: true,
  shutdownGraceMs: true,
  bodyLimit: true,
  requestTimeoutMs: true,
  retentionMs: true,
  resultRetentionMs: true,
  limits: true,
  apiKeys: true,
  keyConcurrency: true,
  maxPriority: true,
  rateLimits: true,
  maxSchedules: true,
  maxStreamsPerKey: true,
  sseKeepaliveMs: true,
  readCacheMs: true,
  maxBodyDepth: true,
  corsOrigins: true,
  allowedHosts: true,
  logger: true,
  otel: true,
};
/**
 * A misspelt option would be ignored, and its default taken without a word (`concurency: 50` runs 8 at once): a
 * TypeError naming it, with the option it is nearest to.
 */
function refuseUnknownOptions(options: object, where: string): void {
  const message = unknownNameMessage(options, Object.keys(OPTION_NAMES), where);
  if (message !== null) throw new TypeError(message);
}

export async function createAsyncOps(options: AsyncOpsOptions): Promise<AsyncOps> {
  refuseUnknownOptions(options, 'createAsyncOps');
  const assembly = await assembleAsyncOps(options);
  let started = false;
  // Without a prefix the API takes only its own first path segments (operations, docs, a task's route…): the rest is
  // the app's, as the plugin leaves it.
  const own = assembly.basePath === '' && assembly.app !== null ? new Set(firstPathSegments(assembly.app)) : null;
  const handler: AsyncOpsHandler = (request, response, next) => {
    const url = originalUrl(request);
    const elsewhere = () => {
      if (next !== undefined) return next();
      return refuse(response, 404, 'not_found', assembly.basePath, `no route ${request.method} ${url.split('?')[0]?.slice(0, 200)}`);
    };
    if (!isUnder(assembly.basePath, url)) return elsewhere();
    const mount = mountPath(request);
    if (mount !== '' && !isUnder(mount, assembly.basePath)) {
      const detail = `asyncops is mounted at ${mount} but answers under "${assembly.basePath}": create it with prefix: '${mount}'`;
      return refuse(response, 500, 'internal', assembly.basePath, detail);
    }
    if (own !== null && !own.has(firstSegment(url))) return elsewhere();
    const app = assembly.app;
    if (app === null) return refuse(response, 404, 'not_found', assembly.basePath, 'this instance serves no HTTP (http: false)');
    if (!started) return refuse(response, 503, 'shutting_down', assembly.basePath, 'asyncops is not started: call start() before serving requests');
    if (bodyAlreadyRead(request)) {
      return refuse(response, 500, 'internal', assembly.basePath, 'the request body was read before asyncops saw it: mount asyncops before body parsers');
    }
    request.url = url;
    app.routing(request, response);
  };
  return {
    ...operations(assembly),
    handler,
    async start() {
      await assembly.app?.ready();
      await assembly.start();
      started = true;
    },
    async listen({ port = DEFAULTS.port, host = '127.0.0.1' } = {}) {
      const url = await assembly.listen({ port, host });
      started = true;
      return url + assembly.basePath;
    },
    close: () => assembly.close(),
  };
}

/** Of a Fastify app's pluginTimeout, what a close keeps for releasing leases and closing the store after the drain. */
const CLOSE_MARGIN_MS = 2_000;

/**
 * Mounts the API in a Fastify app: `app.register(asyncopsPlugin, { prefix: '/async', store, tasks })`. Requests under
 * the prefix pass the app's own onRequest hooks (authentication there applies), then asyncops answers them; workers
 * start when the app is ready and drain when it closes; logs go to the app's logger. `app.asyncops` submits and reads.
 */
export const asyncopsPlugin: FastifyPluginAsync<AsyncOpsPluginOptions> = async (parent, options) => {
  // Fastify reads no logLevel or logSerializers of a plugin that shares its parent's scope, as this one does: they would
  // be ignored, so they are unknown options too (its logger option sets asyncops's level).
  refuseUnknownOptions(options, 'asyncops plugin');
  const basePath = joinPaths(parent.prefix, options.prefix);
  const assembly = await assembleAsyncOps({ ...options, prefix: basePath, logger: options.logger ?? parent.log });
  const app = assembly.app;
  if (app === null) throw new TypeError('asyncops plugin: http: false leaves nothing to mount');
  const forward = (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    // Answered by asyncops's own app (its parsers, hooks, limits and problems), before this app reads the body.
    reply.hijack();
    app.routing(request.raw, reply.raw);
    done();
  };
  const route = {
    schema: { hide: true },
    // A stream token in a URL stays out of the app's request log.
    logSerializers: { req: (request: FastifyRequest) => ({ method: request.method, url: withoutStreamToken(request.url) }) },
    onRequest: forward,
    handler: async () => undefined,
  };
  const local = options.prefix === undefined || options.prefix === '/' ? '' : options.prefix.replace(/\/+$/, '');
  if (local !== '') {
    parent.all(local, route);
    parent.all(`${local}/*`, route);
  } else {
    // At the app's root, no route of its own: a catch-all there would take the app's not-found handler and clash with
    // its other wildcards (@fastify/static), and routes of asyncops's paths would clash with the app's own /healthz or
    // /docs. So a request the app has no route for, under one of asyncops's first path segments, is forwarded. It is
    // forwarded before its body is read (preParsing), once every onRequest hook of the app has run, whenever it was
    // added: one added after the plugin (authentication, say) was passed over from onRequest.
    const segments = new Set(firstPathSegments(app));
    parent.addHook('preParsing', (request, reply, payload, done) => {
      if (!request.is404 || !segments.has(firstSegment(request.url))) return done(null, payload);
      forward(request, reply, () => done(null, payload));
    });
  }
  parent.decorate('asyncops', operations(assembly));
  parent.addHook('onReady', async () => {
    await app.ready();
    await assembly.start();
  });
  // preClose, not onClose: streams and long-polls must end before the app's server waits for its connections. Fastify
  // gives each close hook its pluginTimeout (10 s by default, the default grace too): a drain that outlasted it failed
  // the app's close and left attempts leased. So the drain fits in it, with 2 s for the rest of the close.
  const { pluginTimeout } = parent.initialConfig;
  // close() takes a budget below 0 as none left.
  const withinMs = pluginTimeout === undefined || pluginTimeout <= 0 ? undefined : pluginTimeout - CLOSE_MARGIN_MS;
  parent.addHook('preClose', () => assembly.close({ withinMs }));
};
// Runs in the app's own context (as fastify-plugin would mark it): the decorator is the app's, the routes its own.
Object.assign(asyncopsPlugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'asyncops' });

function operations(assembly: Assembly): EmbeddedAsyncOps {
  return {
    prefix: assembly.basePath,
    submit(type, input, options = {}) {
      // Before start (or the app's ready), the store is opened for it; a closed instance refuses it (shutting_down), and
      // a close under way waits for it.
      return assembly.whileOpen(() => submitFromCode(assembly, type, input, options));
    },
    get(id, options = {}) {
      return assembly.whileOpen(async () => {
        if (typeof id !== 'string') throw new TypeError(`get: the operation id must be a string (got ${typeof id})`);
        checkedOptions(options, ['tenant'], 'get');
        const tenant = options.tenant ?? DEFAULT_TENANT;
        throwIfAny([tenantProblem(tenant)].filter((e) => e !== null));
        return (await assembly.service.get(tenant, id)).resource;
      });
    },
  };
}

/** Every option a submit from code takes: one it does not (`idempotency_key`, as the HTTP body spells it) is refused. */
const SUBMIT_OPTION_NAMES: Readonly<Record<keyof SubmitOptions, true>> = {
  webhookUrl: true,
  idempotencyKey: true,
  timeoutS: true,
  priority: true,
  runAt: true,
  maxAttempts: true,
  concurrencyKey: true,
  tenant: true,
};

/**
 * Options of a call from code, from JavaScript too: an object, of the names it takes. A misspelt one would be ignored
 * (no idempotency, another tenant's read) without a word.
 */
function checkedOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options must be an object (got ${String(options)})`);
  const unknownOption = unknownNameMessage(options, known, where);
  if (unknownOption !== null) throw new TypeError(unknownOption);
}

/** A submit from code, checked as its request would have been. */
async function submitFromCode(assembly: Assembly, type: string, input: unknown, options: SubmitOptions): Promise<Operation> {
  checkedOptions(options, Object.keys(SUBMIT_OPTION_NAMES), 'submit');
  if (typeof type !== 'string') throw new TypeError(`submit: the task type must be a string (got ${typeof type})`);
  const tenant = options.tenant ?? DEFAULT_TENANT;
  const { idempotencyKey } = options;
  const text = input === undefined ? null : jsonTextAt(input, '/input');
  const notJson = text !== null && 'problem' in text ? text.problem : null;
  // As a request would have sent it: what is stored, validated, handed to the handler and resolved with.
  const json: unknown = text === null || 'problem' in text ? undefined : JSON.parse(text.json);
  // Too deep for the body a request would send it in, named where the limit is passed: as JSON writes it (a toJSON's
  // answer, not the value that has it), or as given when it is too deep to write at all (a cycle stays a value that is
  // not JSON).
  const tooDeep =
    notJson === null
      ? depthProblem(json, assembly.maxBodyDepth)
      : notJson.message.endsWith(NESTED_TOO_DEEPLY)
        ? depthProblem(input, assembly.maxBodyDepth)
        : null;
  const written: unknown = tooDeep === null ? json : undefined;
  // What a request's parsing, its key and its headers would have ensured (json-body.ts, input-limits.ts, auth.ts,
  // submit.ts), checked for a call from code.
  const errors = [
    tooDeep ?? notJson,
    pollutingProblem(written),
    tenantProblem(tenant),
    options.runAt instanceof Date && Number.isNaN(options.runAt.getTime()) ? { path: '/run_at', message: 'is an invalid Date' } : null,
    idempotencyKey === undefined || (typeof idempotencyKey === 'string' && isIdempotencyKey(idempotencyKey))
      ? null
      : { path: '/idempotency_key', message: `must be 1 to ${IDEMPOTENCY_KEY_MAX} visible ASCII characters` },
  ].filter((e) => e !== null);
  throwIfAny(errors);
  const runAt = options.runAt instanceof Date ? options.runAt.toISOString() : options.runAt;
  const { view } = await assembly.service.submit({
    tenant,
    type,
    // Left out or null, as a request's body.input is taken (operations-routes.ts): the same submit passes or fails alike.
    input: written ?? {},
    webhookUrl: options.webhookUrl,
    idempotencyKey,
    timeoutS: options.timeoutS,
    priority: options.priority,
    runAt,
    maxAttempts: options.maxAttempts,
    concurrencyKey: options.concurrencyKey,
  });
  return view.resource;
}

/** Nesting as a request body's is held to: the input sits one level inside the body a request would have sent. */
function depthProblem(input: unknown, maxBodyDepth: number): FieldError | null {
  const at = input === undefined ? null : tooDeepPath(input, maxBodyDepth - 1);
  if (at === null) return null;
  return {
    path: shownPointer(`/input${at === '/' ? '' : at}`),
    message: `is nested deeper than ${maxBodyDepth} levels, counting the body it would be sent in`,
  };
}

/** Keys as a request body's are held to: no prototype-polluting key (Fastify's parser refuses them). */
function pollutingProblem(written: unknown): FieldError | null {
  const at = written === undefined ? null : pollutingKeyPath(written);
  return at === null ? null : { path: shownPointer(`/input${at}`), message: 'is a __proto__ or constructor.prototype key, which no route takes' };
}

function tenantProblem(tenant: unknown): FieldError | null {
  return typeof tenant === 'string' && TENANT_NAME.test(tenant) ? null : { path: '/tenant', message: "must be 1 to 64 letters, digits, '_', '.' or '-'" };
}

function throwIfAny(errors: readonly FieldError[]): void {
  if (errors.length > 0) throw validationFailed(errors);
}

/** `operations` of `/operations/op_1?wait=1`. */
function firstSegment(url: string): string {
  return url.split('?')[0]!.split('/')[1] ?? '';
}

/** Express (and Connect) take a mount path off `url` and keep the whole one in `originalUrl`. */
function originalUrl(request: IncomingMessage): string {
  const original = (request as IncomingMessage & { originalUrl?: unknown }).originalUrl;
  return typeof original === 'string' ? original : (request.url ?? '/');
}

/** Where Express mounted the handler (`app.use('/async', handler)`: `/async`); '' when it did not. */
function mountPath(request: IncomingMessage): string {
  const base = (request as IncomingMessage & { baseUrl?: unknown }).baseUrl;
  return typeof base === 'string' ? base : '';
}

/**
 * A body parser (express.json()) that ran first has consumed the stream the API would read: read to its end, an empty
 * body too (body-parser 2 reads a `Content-Length: 0` stream and no longer marks `_body`), where the API would wait
 * for an end that came already.
 */
function bodyAlreadyRead(request: IncomingMessage): boolean {
  return (request as IncomingMessage & { _body?: unknown })._body === true || request.readableEnded;
}

/** A problem answered before the API's app sees the request; `instance` the path asked for, as on every problem. */
function refuse(response: ServerResponse, status: number, code: string, basePath: string, detail: string): void {
  const title = status === 404 ? 'Not found' : status === 503 ? 'Unavailable' : 'Internal server error';
  const instance = originalUrl(response.req).split('?')[0];
  response
    .writeHead(status, {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      ...statusHeaders(status),
    })
    .end(JSON.stringify({ type: problemType(code, basePath), title, status, detail, code, instance }));
}

function joinPaths(parent: string, prefix: string | undefined): string {
  const own = prefix === undefined || prefix === '/' ? '' : prefix.replace(/\/+$/, '');
  return `${parent.replace(/\/+$/, '')}${own}`;
}
