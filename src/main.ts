// Owns: the composition root: builds the store, task registry, operations service, worker pool, webhook
// dispatcher, schedules service and scheduler, bulk actions and their runner, and HTTP app from one options object, and starts and stops them in order.
// Not here: flag parsing (cli/server/serve.ts), any rule of the parts it wires, the package's public face over this
// (embed.ts: createAsyncOps, the Fastify plugin, the request handler).
// Invariant: the one file that knows every part; nothing else constructs them for a running server.

import { tenantPolicies } from './runtime/tenant-policies.ts';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger, type LoggerOptions } from 'pino';
import { redactChildBindings, redactingChildOf, redactingOptions } from './telemetry/log-redaction.ts';
import { AsyncOpsError } from './domain/errors.ts';
import { systemClock, withTimers, type Clock } from './domain/clock.ts';
import { toOperationResource } from './domain/resource.ts';
import type { BackoffPolicy } from './domain/backoff.ts';
import { DEFAULTS, DEFAULT_MAX_SCHEDULES, DEFAULT_RATE_LIMITS, DEFAULT_RETRY_BACKOFF } from './config/settings.ts';
import type { Store } from './store/store.ts';
import { openStoreFromSpec, parseStoreSpec } from './store/open.ts';
import { TaskRegistry, DEFAULT_TASK_DEFAULTS } from './runtime/registry.ts';
import type { TaskDefinition } from './runtime/task.ts';
import { OperationsService, DEFAULT_SERVICE_LIMITS, type ServiceLimits } from './runtime/operations.ts';
import { WorkerPool } from './runtime/worker-pool.ts';
import { SchedulesService } from './runtime/schedules.ts';
import { Scheduler } from './runtime/scheduler.ts';
import { registerScheduleRoutes } from './http/schedules-routes.ts';
import { BulkActionRunner, BulkActionsService } from './runtime/bulk-actions.ts';
import { registerBulkRoutes } from './http/bulk-routes.ts';
import { registerDashboardRoutes } from './http/dashboard-routes.ts';
import { registerHistoryRoutes } from './http/history-routes.ts';
import { HistoryService } from './runtime/history.ts';
import { builtInTasks } from './tasks/index.ts';
import { webhookDeliveryFactory } from './webhooks/payload.ts';
import { checkWebhookUrl } from './webhooks/ssrf.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';
import { generateWebhookSecret, webhookSecretKey } from './signing/webhook-signature.ts';
import { buildHttpApp } from './http/app.ts';
import { registerDeliveryRoutes } from './http/deliveries-routes.ts';
import { DeliveriesService } from './webhooks/deliveries.ts';
import { Retention } from './runtime/retention.ts';
import { Metrics } from './http/metrics.ts';
import { ApiKeyring, sha256, type ApiKeyConfig } from './http/auth.ts';
import { NO_RATE_LIMITS, type RateLimits } from './http/rate-limits.ts';
import { corsOriginsRefusal, parseCorsOrigins, type CorsOrigins } from './config/cors-origins.ts';
import { parseAllowedHosts, type AllowedHosts } from './config/allowed-hosts.ts';
import { checkOptionValues } from './config/option-values.ts';
import { webhookLeaseRefusal } from './config/webhook-lease.ts';
import { StreamTokens } from './http/stream-tokens.ts';
import { basePathOf } from './http/base-path.ts';
import { startTracingSdk } from './telemetry/sdk.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * How an embedder configures asyncops (createAsyncOps, the Fastify plugin). An option the CLI also takes defaults to
 * its flag's default (named in `…`), as config/settings.ts declares it.
 */
export interface AsyncOpsOptions {
  /** Where operations are kept: a file path, `sqlite:PATH`, `:memory:` or a postgres:// URL. */
  readonly store: string;
  /**
   * The path the HTTP API answers under, such as `/async` (default: none). Every link, Location and problem type the
   * API sends starts with it. The Fastify plugin takes it as Fastify's own `prefix` option.
   */
  readonly prefix?: string | undefined;
  /** Task types besides the built-ins: one, or an array (as a task module exports them). */
  readonly tasks?: TaskDefinition | readonly TaskDefinition[] | undefined;
  /** Register the built-in tasks (`report`); default true. */
  readonly builtInTasks?: boolean | undefined;
  /** Run workers and the webhook dispatcher in this process (default true). */
  readonly workers?: boolean | undefined;
  /** Serve the HTTP API (default true). */
  readonly http?: boolean | undefined;
  /** Serve the web dashboard at /dashboard (default true; `--no-dashboard`): a page that reads the API with the user's key. */
  readonly dashboard?: boolean | undefined;
  /** Handlers running at once in this process (`--concurrency`). */
  readonly concurrency?: number | undefined;
  /** The largest result a handler may return, in bytes (`--max-result-bytes`); a larger one fails the operation `result_too_large`. */
  readonly maxResultBytes?: number | undefined;
  /** Signing secrets (`whsec_…`); the first is the newest. Default: generated once and kept in the store. */
  readonly webhookSecrets?: readonly string[] | undefined;
  /** Let webhooks reach loopback and private addresses (local development and tests); cloud metadata addresses stay refused. */
  readonly allowPrivateWebhooks?: boolean | undefined;
  /** Delays between webhook attempts, ms; the length is the number of retries. */
  readonly webhookScheduleMs?: readonly number[] | undefined;
  readonly webhookTimeoutMs?: number | undefined;
  /** How long a node holds a webhook attempt it started (`--webhook-lease`; default webhookTimeoutMs + 30 s). */
  readonly webhookLeaseMs?: number | undefined;
  /** Webhook attempts in flight at once in this process (`--webhook-concurrency`). */
  readonly webhookConcurrency?: number | undefined;
  /** Of those, at most this many to one destination, a URL's origin (default a quarter of webhookConcurrency, at least 1). */
  readonly webhookConcurrencyPerDestination?: number | undefined;
  readonly retryBackoff?: BackoffPolicy | undefined;
  readonly leaseMs?: number | undefined;
  /** How long running attempts may finish on shutdown before their leases are released. */
  readonly shutdownGraceMs?: number | undefined;
  readonly bodyLimit?: number | undefined;
  /**
   * How long a request may take to arrive in full (`--request-timeout`); slower is a 408 and the connection closed. For
   * `listen()` only: mounted in an app's own server (the plugin, `handler`), that server's timeouts apply.
   */
  readonly requestTimeoutMs?: number | undefined;
  /** Keep terminal operations this long (`--retention`) and their results this long (default: retentionMs). */
  readonly retentionMs?: number | undefined;
  readonly resultRetentionMs?: number | undefined;
  readonly limits?: Partial<ServiceLimits> | undefined;
  /**
   * API keys. When given, every route but /healthz, /readyz, /openapi.json and /docs needs
   * `Authorization: Bearer KEY`, and the key's tenant scopes all a request sees and creates.
   */
  readonly apiKeys?: readonly ApiKeyConfig[] | undefined;
  /**
   * Fairness: operations of a type with the same `concurrency_key` that run at once across all nodes, for types that set
   * no `keyConcurrency` (`--key-concurrency`, default 1).
   */
  readonly keyConcurrency?: number | undefined;
  /** Fairness: the highest priority a tenant may submit unless its key entry sets `maxPriority` (`--max-priority`, default 1000). */
  readonly maxPriority?: number | undefined;
  /** Requests per window per API key (or client address); null turns a class off. Default: on with API keys, else off. */
  readonly rateLimits?: Partial<RateLimits> | undefined;
  /**
   * Schedules one tenant may hold, created through the API (`--max-schedules`); null: no cap. Default: 1000 with API
   * keys, else none.
   */
  readonly maxSchedules?: number | null | undefined;
  /** Event streams one API key (or client address) may hold open at once (`--max-sse-per-key`). */
  readonly maxStreamsPerKey?: number | undefined;
  /** How often a quiet event stream sends a keepalive comment and re-reads its operation (`--sse-keepalive`). */
  readonly sseKeepaliveMs?: number | undefined;
  /** How long a status read may be served again (`--read-cache`; 0: never). A change drops it at once. */
  readonly readCacheMs?: number | undefined;
  /** Deepest nesting of a request body (`--max-body-depth`). */
  readonly maxBodyDepth?: number | undefined;
  /**
   * Origins browsers may call the API from (CORS), such as `https://app.example.com`, as an array or as `--cors-origin`
   * takes them (comma-separated), or `'*'` (only with API keys). Default: none. A page's EventSource streams with a
   * token from POST /operations/{id}/stream-token.
   */
  readonly corsOrigins?: string | readonly string[] | undefined;
  /**
   * Host names the API answers to besides localhost and IP addresses, as an array or as `--allowed-hosts` takes them
   * (comma-separated; `.corp.example` for its subdomains too); a request naming another host in `Host` is a 421 problem.
   * A defence against DNS rebinding for a server without API keys (the CLI's `serve` on loopback sets it then). Default
   * `'*'`: any host, as an app that embeds asyncops behind its own names expects.
   */
  readonly allowedHosts?: string | readonly string[] | undefined;
  /** A pino logger, or options for the one created here (which redacts keys, secrets and passwords). */
  readonly logger?: Logger | LoggerOptions | undefined;
  /**
   * Start the OpenTelemetry SDK in this process and export traces as the standard OTEL_* variables say (the CLI's
   * `--otel`; OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT). Default false: spans go to whatever tracer provider the
   * application registered through @opentelemetry/api, and cost nothing without one.
   */
  readonly otel?: boolean | undefined;
}

/** What the server itself, the CLI and tests may also give: a Store instance, a clock, extra route groups. */
export interface AssemblyOptions extends Omit<AsyncOpsOptions, 'store'> {
  /** A Store, or a specification (AsyncOpsOptions.store). */
  readonly store: Store | string;
  readonly clock?: Clock | undefined;
  /** Extra Fastify plugins (auth, rate limits, metrics) registered before the routes. */
  readonly httpPlugins?: ReadonlyArray<(app: FastifyInstance, parts: AsyncOpsParts) => void | Promise<void>> | undefined;
}

export interface AsyncOpsParts {
  readonly store: Store;
  readonly registry: TaskRegistry;
  readonly service: OperationsService;
  readonly pool: WorkerPool | null;
  readonly dispatcher: WebhookDispatcher | null;
  readonly logger: Logger;
}

/** Every part, for the CLI, tests and embed.ts; embedders get the narrow AsyncOps of embed.ts. */
export interface Assembly extends AsyncOpsParts {
  /** The Fastify app (routes registered under basePath, not listening); null with `http: false`. */
  readonly app: FastifyInstance | null;
  /** Where the HTTP API answers: '' or a prefix such as `/async` (from options.prefix). */
  readonly basePath: string;
  /** How deep a request body may nest (`--max-body-depth`): a submit from code is held to it as its request would be. */
  readonly maxBodyDepth: number;
  /** Open the store (migrating it) without starting anything: what submits and reads from code need. Once; refused (shutting_down) after close(). */
  open(): Promise<void>;
  /** Runs a call from code (a submit, a read) on the open store: opened for it, and waited for by a close under way. */
  whileOpen<T>(work: () => Promise<T>): Promise<T>;
  /** Open the store, start workers and the dispatcher. */
  start(): Promise<void>;
  /** Start, then listen; resolves with the URL. */
  listen(options: { port: number; host: string }): Promise<string>;
  /**
   * Stop accepting, drain workers within the grace period, release leases, close the store. `withinMs`: the whole
   * drain fits in it (a host that gives its shutdown hooks a time limit): handlers and webhook attempts drain side by
   * side, each for no longer than it, and what still runs then is released (handlers) or aborted (webhook attempts).
   */
  close(options?: { readonly withinMs?: number | undefined }): Promise<void>;
}

/** Where a generated webhook signing secret is kept, so every node and restart signs with the same one. */
export const WEBHOOK_SECRET_SETTING = 'webhook_secret';

/** The server commands check a --store specification before anything opens; they import nothing below this file. */
export { parseStoreSpec };
export { TracingSettingError } from './telemetry/tracing-setting-error.ts';
export { checkTaskDefinition, type TaskDefinition } from './runtime/task.ts';

/**
 * Throws a TypeError naming the first thing a registry would refuse in `tasks`: a definition, an input schema that
 * does not compile, a route taken, a type twice (with the built-in report unless `builtIn` is false). For the CLI, so
 * a bad task module is named with the message.
 */
export function checkTasks(tasks: readonly TaskDefinition[], builtIn = true): void {
  try {
    new TaskRegistry([...(builtIn ? builtInTasks : []), ...tasks]);
  } catch (error) {
    const message = (error as Error).message;
    const clash = builtIn && tasks.some((task) => builtInTasks.some((b) => b.type === task.type));
    throw new TypeError(clash ? `${message} (one is the built-in report task: --no-builtin-tasks leaves it out)` : message);
  }
}
/** What embed.ts, the package's face over this root, needs of the parts; it imports nothing else of ours. */
export { isUnder } from './http/base-path.ts';
export { firstPathSegments } from './http/app.ts';
export { problemType, statusHeaders } from './http/problem.ts';
export { withoutStreamToken } from './http/stream-tokens.ts';
export { DEFAULT_TENANT, IDEMPOTENCY_KEY_MAX, isIdempotencyKey, TENANT_NAME } from './domain/operation.ts';
export { AsyncOpsError, validationFailed, type FieldError } from './domain/errors.ts';
export { jsonTextAt, NESTED_TOO_DEEPLY, pollutingKeyPath, shownPointer } from './domain/json-values.ts';
export { unknownNameMessage } from './domain/known-names.ts';
export { tooDeepPath } from './http/input-limits.ts';
export type { OperationView } from './runtime/operation-view.ts';
export type { Operation } from './client/types.ts';
/** The types AsyncOpsOptions names, for the package's index. */
export type { ApiKeyConfig, BackoffPolicy, RateLimits, ServiceLimits };

/** The secrets a tenant's webhooks are signed with (`asyncops webhook-secret --tenant`). */
export { tenantSecrets } from './webhooks/tenant-secrets.ts';

/**
 * The secret a server on this store signs webhooks with when it is given none (`asyncops webhook-secret` prints it):
 * the one kept in the store, or one made and kept now, which the server will then use.
 */
export async function keptWebhookSecret(storeSpec: string): Promise<{ secret: string; made: boolean }> {
  // Read beside the nodes on the store: one they run on is not migrated under them (they would not start again).
  const store = openStoreFromSpec(storeSpec, { existing: 'refuse' });
  // A PostgreSQL schema that has no store yet (a mistyped one) answers no ping before open() makes one there; a SQLite
  // file is told by its absence, before opening it makes it.
  const spec = parseStoreSpec(storeSpec);
  const made =
    spec.kind === 'sqlite'
      ? !existsSync(spec.path)
      : await store.ping().then(
          () => false,
          () => true,
        );
  await store.open();
  try {
    return { secret: await store.settingGetOrInit(WEBHOOK_SECRET_SETTING, generateWebhookSecret()), made };
  } finally {
    await store.close();
  }
}

/** A list option given as an array or as its flag takes it (comma-separated), as the one text its parser reads. */
function listOption(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value.join(',');
  throw new TypeError(`${name}: an array of strings, or one string of them comma-separated`);
}

/** An embedder's corsOrigins, checked as `--cors-origin` is; an empty array is none, as leaving it out is. */
function corsOriginsOf(given: unknown): CorsOrigins | null {
  if (given === undefined || (Array.isArray(given) && given.length === 0)) return null;
  const text = listOption('corsOrigins', given);
  try {
    return parseCorsOrigins(text);
  } catch (error) {
    throw new TypeError(`corsOrigins: ${(error as Error).message}`);
  }
}

/** An embedder's webhookSecrets, checked as `--webhook-secret` is: an array naming at least one well-formed secret. */
function checkWebhookSecrets(given: unknown): void {
  if (given === undefined) return;
  if (!Array.isArray(given)) throw new TypeError('webhookSecrets: an array of secrets (whsec_…), the current one first');
  if (given.length === 0) throw new TypeError('webhookSecrets: names no secret: give at least one, or leave it out');
  given.forEach((secret: unknown, i) => {
    try {
      if (typeof secret !== 'string') throw new Error('not a string');
      webhookSecretKey(secret);
    } catch (error) {
      throw new TypeError(`webhookSecrets[${i}]: ${(error as Error).message}`);
    }
  });
}

export async function assembleAsyncOps(options: AssemblyOptions): Promise<Assembly> {
  const clock = options.clock ?? systemClock;
  // Within the bounds the command line takes them in, before anything is built or opened.
  checkOptionValues(options as unknown as Readonly<Record<string, unknown>>, (key) => sha256(key).toString('hex'));
  checkWebhookSecrets(options.webhookSecrets);
  // Checked first, as the CORS list is: a bad prefix is the caller's mistake.
  const basePath = basePathOf(options.prefix);
  // Checked before anything is opened: a bad list is the caller's mistake, not a server to clean up after.
  const corsOrigins = corsOriginsOf(options.corsOrigins);
  const corsRefusal = corsOriginsRefusal(corsOrigins, (options.apiKeys?.length ?? 0) > 0);
  if (corsRefusal !== null) throw new TypeError(`corsOrigins: ${corsRefusal}`);
  const allowedHosts = allowedHostsOf(options.allowedHosts);
  const leaseRefusal =
    options.webhookLeaseMs === undefined
      ? null
      : webhookLeaseRefusal(options.webhookLeaseMs, options.webhookTimeoutMs ?? DEFAULTS.webhookTimeout, 'webhookTimeoutMs');
  if (leaseRefusal !== null) throw new TypeError(`webhookLeaseMs: ${leaseRefusal}`);
  const logger = isLogger(options.logger) ? redactingChildOf(options.logger) : defaultLogger(options.logger);
  // Before anything else is made, so the first spans of this assembly already go to it; close() shuts it down last.
  const tracing = options.otel === true ? await startTracingSdk({ version: VERSION, log: logger.child({ component: 'tracing' }) }) : null;
  if (typeof options.store !== 'string' && typeof (options.store as Partial<Store> | null)?.open !== 'function') {
    throw new TypeError('store: a file path, sqlite:PATH, :memory: or a postgres:// URL');
  }
  const store = typeof options.store === 'string' ? openStoreFromSpec(options.store, { onError: storeErrorLog(logger) }) : options.store;
  const concurrency = options.concurrency ?? DEFAULTS.concurrency;
  const userTasks = options.tasks === undefined ? [] : Array.isArray(options.tasks) ? options.tasks : [options.tasks as TaskDefinition];
  if (!userTasks.every((task) => task !== null && typeof task === 'object'))
    throw new TypeError('tasks: a task, or an array of tasks, as defineTask makes them');
  const registry = new TaskRegistry([...(options.builtInTasks === false ? [] : builtInTasks), ...userTasks], {
    ...DEFAULT_TASK_DEFAULTS,
    concurrency,
    keyConcurrency: options.keyConcurrency ?? DEFAULTS.keyConcurrency,
  });
  const allowPrivate = options.allowPrivateWebhooks ?? false;
  const renderResource = (op: Parameters<typeof toOperationResource>[0]) =>
    toOperationResource(op, {
      now: clock.now(),
      queuePosition: null,
      estimatedCompletionAt: null,
      route: registry.get(op.type)?.route ?? null,
      includeInput: true,
      basePath,
    });
  const deliveryFactory = webhookDeliveryFactory({ clock, renderResource });
  const metrics = new Metrics(
    store,
    () => registry.list().map((task) => task.type),
    () => (pool === null ? null : { used: pool.stats().running, available: Math.max(0, concurrency - pool.stats().running) }),
  );
  const tenants = tenantPolicies(options.apiKeys ?? [], options.maxPriority ?? DEFAULTS.maxPriority);
  const service = new OperationsService({
    store,
    registry,
    clock,
    deliveryFactory,
    maxPriority: tenants.maxPriority,
    tenantWeights: tenants.weights,
    // What the ETA takes for the cluster until a live worker node has announced its limits: this node's own, when it
    // runs workers; an API-only node has none, so with no live worker node its estimates are null, not a guess.
    workerConcurrency: (options.workers ?? true) ? concurrency : 0,
    limits: { ...DEFAULT_SERVICE_LIMITS, ...options.limits },
    readCacheMs: options.readCacheMs,
    basePath,
    observer: metrics,
    checkWebhookUrl: (url) => {
      const check = checkWebhookUrl(url, { allowPrivate });
      return check.ok ? null : check.reason;
    },
  });
  const schedules = new SchedulesService({
    store,
    registry,
    clock,
    maxTimeoutS: options.limits?.maxTimeoutS ?? DEFAULT_SERVICE_LIMITS.maxTimeoutS,
    observer: metrics,
    maxPriority: tenants.maxPriority,
    maxPerTenant: options.maxSchedules === undefined ? (options.apiKeys?.length ? DEFAULT_MAX_SCHEDULES : null) : options.maxSchedules,
    checkWebhookUrl: (url) => {
      const check = checkWebhookUrl(url, { allowPrivate });
      return check.ok ? null : check.reason;
    },
    onValidateThrew: (schedule, err) =>
      logger.warn(
        { err, component: 'scheduler', schedule_id: schedule.id, type: schedule.type },
        "schedule tick: the task's validate threw, so the tick passes without an operation (validate must not throw)",
      ),
  });
  const runWorkers = options.workers ?? true;
  // Every worker node runs one: they may all fire a tick at once, and the store lets one create its operation.
  const scheduler = runWorkers ? new Scheduler({ store, schedules, clock: withTimers(clock), logger: logger.child({ component: 'scheduler' }) }) : null;
  const workerId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const pool = runWorkers
    ? new WorkerPool({
        store,
        registry,
        clock,
        logger: logger.child({ component: 'workers' }),
        workerId,
        concurrency,
        leaseMs: options.leaseMs,
        retryBackoff: options.retryBackoff ?? DEFAULT_RETRY_BACKOFF,
        graceMs: options.shutdownGraceMs,
        maxResultBytes: options.maxResultBytes,
        deliveryFactory,
        tenantWeights: tenants.weights,
      })
    : null;
  // Every worker node runs one: the store's lease lets one at a time work on a bulk action.
  const bulkRunner = runWorkers
    ? new BulkActionRunner({
        store,
        clock,
        logger: logger.child({ component: 'bulk-actions' }),
        delivery: deliveryFactory,
        leaseMs: options.leaseMs,
        observer: metrics,
        runnableTypes: () => registry.list().map((task) => task.type),
      })
    : null;
  const bulkActions = new BulkActionsService({ store, clock, created: () => bulkRunner?.wake(), maxPriority: tenants.maxPriority });
  pool?.on('operation:claimed', (operation) => metrics.recordClaim(operation));
  pool?.on('operation:finished', (end) => metrics.recordAttempt(end));
  pool?.on('leases:recovered', (result) => metrics.recordRecovered(result));
  let dispatcher: WebhookDispatcher | null = null;
  const retentionMs = options.retentionMs ?? DEFAULTS.retention;
  const retention = new Retention({
    store,
    clock,
    logger,
    retentionMs,
    resultRetentionMs: options.resultRetentionMs ?? retentionMs,
  });
  // Retention counts from an operation's end and waits for its webhook to settle: a delivery that dies after
  // --retention has passed goes with its operation at the next pruning, before the dead-letter list could show it.
  // The retries can take as long as every one at the schedule's longest step (a receiver's Retry-After may ask for
  // that), each attempt its timeout.
  const webhookSchedule = options.webhookScheduleMs ?? DEFAULTS.webhookSchedule;
  const webhookRetriesMs =
    webhookSchedule.length * Math.max(0, ...webhookSchedule) + (webhookSchedule.length + 1) * (options.webhookTimeoutMs ?? DEFAULTS.webhookTimeout);
  if (retentionMs <= webhookRetriesMs) {
    logger.warn(
      { component: 'retention', retention_ms: retentionMs, webhook_retries_ms: webhookRetriesMs },
      'retention: --retention is no longer than the webhook retries can take, so a webhook that never gets through may be removed with its operation as it dies, never shown in the dead-letter list: raise --retention past them',
    );
  }
  const parts = (): AsyncOpsParts => ({ store, registry, service, pool, dispatcher, logger });
  const app =
    options.http === false
      ? null
      : await buildHttpApp({
          service,
          store,
          logger,
          bodyLimit: options.bodyLimit ?? DEFAULTS.bodyLimit,
          requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeout,
          version: VERSION,
          security: {
            keyring: options.apiKeys?.length ? ApiKeyring.from(options.apiKeys) : null,
            // Without keys every client of an embedded server may share one address (a proxy): limits are opt-in there.
            rateLimits: { ...(options.apiKeys?.length ? DEFAULT_RATE_LIMITS : NO_RATE_LIMITS), ...options.rateLimits },
            maxStreamsPerPrincipal: options.maxStreamsPerKey ?? DEFAULTS.maxSsePerKey,
            streamKeepaliveMs: options.sseKeepaliveMs ?? DEFAULTS.sseKeepalive,
            maxBodyDepth: options.maxBodyDepth ?? DEFAULTS.maxBodyDepth,
            cors: corsOrigins,
            streamTokens: StreamTokens.inStore(store, clock),
            allowedHosts: allowedHosts,
          },
          countRequest: (request, reply) => metrics.countRequest(request, reply),
          stopping: () => closed,
          plugins: [
            (a) => metrics.register(a),
            (a) => registerDeliveryRoutes(a, new DeliveriesService({ store, clock })),
            (a) => registerHistoryRoutes(a, new HistoryService({ store })),
            (a) => registerScheduleRoutes(a, schedules, basePath),
            (a) => registerBulkRoutes(a, bulkActions),
            ...(options.dashboard === false ? [] : [(a: FastifyInstance) => registerDashboardRoutes(a, { keysRequired: (options.apiKeys?.length ?? 0) > 0 })]),
            ...(options.httpPlugins ?? []).map((p) => (a: FastifyInstance) => p(a, parts())),
          ],
        });

  let opening: Promise<void> | null = null;
  /** open() has run: the store may hold connections (PostgreSQL's pool) even when it failed to open, so close() closes it. */
  let openTried = false;
  /** The start, once asked for: a second call waits for the first (and one after a store that would not open tries again). */
  let starting: Promise<void> | null = null;
  /** The store is open (migrated): a start under way then only starts parts, which a close waits for. */
  let opened = false;
  /** Calls from code under way (whileOpen): a close lets them end before it closes the store. */
  const calls = new Set<Promise<unknown>>();
  /** A listen() binding its server: a close that comes meanwhile waits for it, so that it closes what was bound. */
  let binding: Promise<unknown> | null = null;
  let closing: Promise<void> | null = null;
  let closed = false;
  /** Set once a close has drained the workers: calls from code are refused from then on (whileOpen). */
  let callsRefused = false;
  // One open, whoever asks first (start, listen, or a submit or read from code): the others wait for it.
  const open = () => {
    if (closed) return Promise.reject(new AsyncOpsError('shutting_down', 'this asyncops instance is closed; create a new one'));
    // A store that could not be opened (a path, a database down) may be opened by a later call, once the cause is gone.
    opening ??= (async () => {
      openTried = true;
      await store.open();
      // A close that came meanwhile did not wait for this open: it closes the store, so nothing may use it now.
      if (closed) throw new AsyncOpsError('shutting_down', 'this asyncops instance was closed while it opened its store');
      opened = true;
      service.start();
    })().catch((error: unknown) => {
      opening = null;
      // A close while the store opened ends the open with whatever the driver says of a store closed under it.
      throw closed && !(error instanceof AsyncOpsError)
        ? new AsyncOpsError('shutting_down', 'this asyncops instance was closed while it opened its store', { cause: error })
        : error;
    });
    return opening;
  };
  const ops: Assembly = {
    get store() {
      return store;
    },
    registry,
    service,
    pool,
    get dispatcher() {
      return dispatcher;
    },
    logger,
    app,
    basePath,
    maxBodyDepth: options.maxBodyDepth ?? DEFAULTS.maxBodyDepth,
    async start() {
      // A closed instance has closed its store: starting it again would run nothing on nothing.
      if (closed) throw new AsyncOpsError('shutting_down', 'this asyncops instance is closed; create a new one to start again');
      starting ??= startOnce();
      return starting;
    },
    open,
    whileOpen(work) {
      // Taken while a close drains the workers, on the open store: a handler finishing in its grace period may submit
      // its next step or read its operation (a refusal failed its attempt, or spent one). Refused once the drain is
      // over, and by a close that came before the store was open; a close waits for the calls it let in.
      const ready = opened && !callsRefused ? Promise.resolve() : open();
      const call = ready.then(() => {
        if (callsRefused) throw new AsyncOpsError('shutting_down', 'this asyncops instance is closed; create a new one');
        return work();
      });
      calls.add(call);
      void call.then(
        () => calls.delete(call),
        () => calls.delete(call),
      );
      return call;
    },
    async listen({ port, host }) {
      if (app === null) throw new Error('listen: this instance was created with http: false');
      // A closed instance binds nothing (open() refuses it first): its close has run, and nothing would close the server again.
      await open();
      // Bind before any worker starts: a server that cannot listen must not stay behind as a hidden worker. One that
      // cannot bind (the port taken, a second listen) leaves the instance as it was, serving or not yet started.
      // A close that came while the store opened has closed the app: nothing is bound then.
      if (closed) throw new AsyncOpsError('shutting_down', 'this asyncops instance was closed while it started to listen');
      const bound = app.listen({ port, host });
      binding = bound;
      const url = await bound;
      try {
        // A node whose workers cannot start (a setting an embedder passed that they refuse) must not stay up taking
        // work that never runs.
        await ops.start();
      } catch (error) {
        await ops.close();
        throw error;
      }
      const address = app.server.address();
      const listening = typeof address === 'object' && address !== null ? `http://${host.includes(':') ? `[${host}]` : host}:${address.port}` : url;
      // An API-only node runs no handlers, so it has no concurrency to report.
      logger.info({ url: listening, store: store.kind, workers: runWorkers, ...(runWorkers ? { concurrency } : {}) }, 'asyncops listening');
      return listening;
    },
    close(options = {}) {
      // A second call (SIGTERM, then SIGINT) waits for the first close, which may still be draining handlers.
      closing ??= closeOnce(options);
      return closing;
    },
  };

  async function startOnce(): Promise<void> {
    try {
      await open();
    } catch (error) {
      starting = null;
      throw error;
    }
    if (closed) throw new AsyncOpsError('shutting_down', 'this asyncops instance was closed while it started');
    if (runWorkers) {
      const secrets = options.webhookSecrets?.length
        ? [...options.webhookSecrets]
        : [await store.settingGetOrInit(WEBHOOK_SECRET_SETTING, generateWebhookSecret())];
      dispatcher = new WebhookDispatcher({
        store,
        secrets,
        clock,
        logger: logger.child({ component: 'webhooks' }),
        workerId,
        allowPrivate,
        schedule: webhookSchedule,
        attemptTimeoutMs: options.webhookTimeoutMs,
        leaseMs: options.webhookLeaseMs,
        concurrency: options.webhookConcurrency,
        concurrencyPerDestination: options.webhookConcurrencyPerDestination,
        onAttempt: (event) => metrics.recordWebhookAttempt(event),
      });
      await pool?.start();
      await dispatcher.start();
      await schedules.syncDeclared();
      await scheduler?.start();
      bulkRunner?.start();
      retention.start();
    }
  }

  async function closeOnce({ withinMs }: { withinMs?: number | undefined }): Promise<void> {
    closed = true;
    // A start or a bind under way past opening the store runs to its end first (or fails), so that what it starts or
    // binds is stopped below, not left running after this close resolved. One still opening the store (waiting for
    // another node's migration, say) is not waited for: closing the store below ends that wait, and the start with it.
    if (opened) await Promise.allSettled([binding, starting]);
    await retention.stop();
    await scheduler?.stop();
    // Its batch in hand commits first and its lease is given back: the action resumes from its cursor on whichever node claims it next.
    await bulkRunner?.stop();
    // Stop taking new work first; HTTP keeps answering status reads (and streams the drain's changes) while
    // workers drain. Closing the app then ends event streams and held long-polls at once (http/closing.ts)
    // rather than waiting for their clients; only then does the service stop hearing of changes.
    // Webhook attempts in flight get the grace running attempts get, at the same time: aborted after it, they are sent
    // again (the delivery's lease runs out), so a receiver that does not answer cannot hold the node up for longer.
    const graceMs = Math.min(Math.max(0, withinMs ?? Number.POSITIVE_INFINITY), options.shutdownGraceMs ?? DEFAULTS.grace);
    await Promise.all([pool?.stop({ graceMs }), dispatcher?.stop({ graceMs })]);
    await app?.close();
    callsRefused = true;
    // Submits and reads from code that began before the drain ended end on the open store (a submit stored and then cut
    // off before its reply was rendered told its caller it failed). Ones still waiting for the store to open are not
    // waited for: closing the store ends them (shutting_down).
    if (opened) await Promise.allSettled([...calls]);
    service.stop();
    // A store that failed to open is closed too: its pool's idle connections kept a process whose start failed (a store
    // a later version migrated, say) alive for their idle timeout, 10 s, before `serve` exited.
    if (openTried) await store.close();
    // A collector that cannot be reached fails the last export: logged (component tracing), never a failed close.
    await tracing?.shutdown().catch((err: unknown) => logger.warn({ err, component: 'tracing' }, 'tracing: the last spans could not be exported'));
  }
  return ops;
}

/** An embedder's allowedHosts, checked as `--allowed-hosts` is (a TypeError names a bad one); an empty list: none but localhost and IPs. */
function allowedHostsOf(given: string | readonly string[] | undefined): AllowedHosts {
  if (given === undefined) return '*';
  if (typeof given !== 'string' && !Array.isArray(given)) throw new TypeError('allowedHosts: give an array of host names, a comma-separated string, or "*"');
  if (given.length === 0) return [];
  try {
    return parseAllowedHosts(typeof given === 'string' ? given : given.join(','));
  } catch (error) {
    throw new TypeError(`allowedHosts: ${(error as Error).message}`);
  }
}

/**
 * The logger of options that are not one: pino on standard output, written synchronously. pino's default writes
 * asynchronously and flushes at exit, and that flush retries a write that meets EPIPE forever: a server whose log
 * reader had gone (a log shipper that died) never exited on SIGTERM. Written synchronously, the first such write is
 * an error pino takes as the end of logging. The server writes a few lines, not one a request, so nothing waits on it.
 */
function defaultLogger(options: LoggerOptions | undefined): Logger {
  // Spread as options, a string or a list gave pino nothing it reads, and a logger without child() (what asyncops names
  // its parts with) options of no name it knows: each was the default logger, without a word.
  const given: unknown = options;
  if (given !== undefined && (given === null || typeof given !== 'object' || Array.isArray(given))) {
    throw new TypeError(`logger: give a pino logger, or options for one (got ${JSON.stringify(given) ?? String(given)})`);
  }
  if (given !== undefined && typeof (given as { info?: unknown }).info === 'function') {
    throw new TypeError('logger: a logger needs child() besides its level methods, as a pino logger has');
  }
  const settings = { name: 'asyncops', level: DEFAULTS.logLevel, ...redactingOptions(options) };
  try {
    // A transport is a destination of its own.
    if (settings.transport !== undefined) return redactChildBindings(pino(settings));
    return redactChildBindings(pino(settings, pino.destination({ dest: 1, sync: true })));
  } catch (error) {
    // pino's own message (a level it does not know, say), as the option's: the caller's mistake.
    throw new TypeError(`logger: ${(error as Error).message}`, { cause: error });
  }
}

/** At most one line in this long of the store's errors no request saw; each says how many it stands for. */
const STORE_ERROR_LOG_MS = 1_000;

/**
 * The store's errors no request saw, logged at most once a second: every connection of a pool a database restart or a
 * failover ends reports one, dozens a second on a busy node.
 */
function storeErrorLog(logger: Logger): (err: unknown) => void {
  let loggedAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  return (err) => {
    const now = Date.now();
    if (now - loggedAt < STORE_ERROR_LOG_MS) {
      unlogged++;
      return;
    }
    logger.warn({ err, errors: unlogged + 1 }, 'store: an error no request saw (the store carries on)');
    loggedAt = now;
    unlogged = 0;
  };
}

function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && typeof (value as Logger).child === 'function' && typeof (value as Logger).info === 'function';
}
