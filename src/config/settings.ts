// Owns: every setting of `serve` and `worker`, declared once (flag, variable, reader and range, default as written,
// help, commands) and the defaults read from it. Not here: command-line options (cli/ makes them from this), using a
// value (main.ts and its parts). Invariant: a default is written once, as text, and read by its own setting's reader.

import type { BackoffPolicy } from '../domain/backoff.ts';
import {
  bytes,
  choice,
  duration,
  durationList,
  durationFrom,
  durationUpTo,
  int,
  intOrOff,
  list,
  negation,
  nonEmptyText,
  onOff,
  rate,
  text,
  timerDuration,
  wholeSeconds,
  type Rate,
  type ValueType,
} from './values.ts';
import { TASK_MAX } from './limits.ts';

/** The largest `--body-limit` a server takes, in MiB: an operation's input, and so its webhook's body, is at most about this. */
export const LARGEST_BODY_LIMIT_MB = 64;

export type ServerCommand = 'serve' | 'worker';

export interface SettingSpec<T> {
  /** `--concurrency`; the setting's key in SETTINGS is the name a command-line parser gives it (`concurrency`). */
  readonly flag: string;
  /** What follows the flag in help (`<n>`); `...>` takes several. None for a switch. */
  readonly arg?: string;
  readonly env?: string;
  readonly commands: readonly ServerCommand[];
  readonly value: ValueType<T>;
  readonly help: string;
  /** The default as one would write it, which is how --help and the README show it. */
  readonly default?: string;
  /** The default applies only in this case, said after it; the consumer decides when it does. */
  readonly defaultWhen?: string;
  /** What happens when the setting is not given and it has no default value, said in the default's place. */
  readonly otherwise?: string;
}

export interface Setting<T = unknown> extends SettingSpec<T> {
  /** `default`, read with `value`; undefined without one. */
  readonly defaultValue: T | undefined;
}

type ValueOf<V> = V extends ValueType<infer T> ? T : never;

/** The spec as written (its flag and variable keep their literal types) and its default, read. */
type Declared<S extends SettingSpec<unknown>> = S & {
  readonly defaultValue: S extends { readonly default: string } ? ValueOf<S['value']> : ValueOf<S['value']> | undefined;
};

function setting<const S extends SettingSpec<unknown>>(spec: S): Declared<S> {
  const value = spec.default === undefined ? undefined : spec.value.parse(spec.default, spec.flag);
  // Frozen: every part that takes a default shares this one (the webhook schedule, a list).
  return { ...spec, defaultValue: typeof value === 'object' && value !== null ? Object.freeze(value) : value } as Declared<S>;
}

const BOTH: readonly ServerCommand[] = ['serve', 'worker'];
const SERVE: readonly ServerCommand[] = ['serve'];

/** In the order --help and the README list them. */
export const SETTINGS = {
  port: setting({
    flag: '--port',
    arg: '<n>',
    env: 'ASYNCOPS_PORT',
    commands: SERVE,
    value: int(0, 65535),
    default: '8080',
    help: 'port to listen on (0: any free port)',
  }),
  host: setting({
    flag: '--host',
    arg: '<address>',
    env: 'ASYNCOPS_HOST',
    commands: SERVE,
    value: nonEmptyText(),
    default: '127.0.0.1',
    help: 'address to bind',
  }),
  store: setting({
    flag: '--store',
    arg: '<spec>',
    env: 'ASYNCOPS_STORE',
    commands: BOTH,
    value: nonEmptyText(),
    default: './asyncops.db',
    help: 'a file path, sqlite:PATH, :memory: or a postgres:// URL',
  }),
  tasks: setting({
    flag: '--tasks',
    arg: '<path...>',
    env: 'ASYNCOPS_TASKS',
    commands: BOTH,
    value: list(/,/),
    help: 'module(s) exporting a task or an array of tasks (default export or `tasks`); the env var takes a comma-separated list',
  }),
  builtinTasks: setting({ flag: '--no-builtin-tasks', commands: BOTH, value: negation(), help: 'do not register the built-in report task' }),
  concurrency: setting({
    flag: '--concurrency',
    arg: '<n>',
    env: 'ASYNCOPS_CONCURRENCY',
    commands: BOTH,
    value: int(1, TASK_MAX.concurrency),
    default: '8',
    help: 'handlers running at once in this process',
  }),
  keyConcurrency: setting({
    flag: '--key-concurrency',
    arg: '<n>',
    env: 'ASYNCOPS_KEY_CONCURRENCY',
    commands: BOTH,
    value: int(1, TASK_MAX.keyConcurrency),
    default: '1',
    help: 'operations of a type with the same concurrency_key running at once across all nodes, for types that set no keyConcurrency',
  }),
  workers: setting({ flag: '--no-workers', commands: SERVE, value: negation(), help: 'API only: run no workers and no webhook dispatcher' }),
  dashboard: setting({ flag: '--no-dashboard', commands: SERVE, value: negation(), help: 'serve no web dashboard at /dashboard' }),
  allowPrivateWebhooks: setting({
    flag: '--allow-private-webhooks',
    env: 'ASYNCOPS_ALLOW_PRIVATE_WEBHOOKS',
    commands: BOTH,
    value: onOff(),
    default: 'off',
    help: 'let webhooks reach loopback and private addresses (development, tests); cloud metadata addresses stay refused',
  }),
  webhookSecret: setting({
    flag: '--webhook-secret',
    arg: '<secrets>',
    env: 'ASYNCOPS_WEBHOOK_SECRET',
    commands: BOTH,
    value: list(/[\s,]+/),
    otherwise: 'generated once, kept in the store',
    help: 'whsec_… signing secret(s), comma or space separated, newest first',
  }),
  // 8 attempts spread over about a day once jittered, in the spirit of Svix's schedule.
  webhookSchedule: setting({
    flag: '--webhook-schedule',
    arg: '<delays>',
    env: 'ASYNCOPS_WEBHOOK_SCHEDULE',
    commands: BOTH,
    value: durationList(),
    default: '5s,5m,30m,2h,5h,10h,10h',
    help: 'upper bounds of the delays between webhook attempts (each retry is jittered within its step)',
  }),
  webhookTimeout: setting({
    flag: '--webhook-timeout',
    arg: '<duration>',
    env: 'ASYNCOPS_WEBHOOK_TIMEOUT',
    commands: BOTH,
    value: timerDuration(1, '1ms', 'an attempt needs some time to be sent'),
    default: '10s',
    help: 'timeout of one webhook attempt',
  }),
  // A node that starts an attempt holds its delivery this long; one cut off by a crash is retried when it runs out. With
  // no heartbeat, it must outlast the attempt (--webhook-timeout) and the clock differences between nodes.
  webhookLease: setting({
    flag: '--webhook-lease',
    arg: '<duration>',
    env: 'ASYNCOPS_WEBHOOK_LEASE',
    commands: BOTH,
    value: duration(),
    otherwise: '--webhook-timeout + 30s',
    help: 'how long a node holds a webhook attempt it started; one cut off by a crash is retried when it runs out (longer than --webhook-timeout)',
  }),
  webhookConcurrency: setting({
    flag: '--webhook-concurrency',
    arg: '<n>',
    env: 'ASYNCOPS_WEBHOOK_CONCURRENCY',
    commands: BOTH,
    value: int(1, 1000),
    default: '32',
    help: 'webhook attempts in flight at once in this process',
  }),
  webhookConcurrencyPerDestination: setting({
    flag: '--webhook-concurrency-per-destination',
    arg: '<n>',
    env: 'ASYNCOPS_WEBHOOK_CONCURRENCY_PER_DESTINATION',
    commands: BOTH,
    value: int(1, 1000),
    otherwise: 'a quarter of --webhook-concurrency, at least 1',
    help: 'webhook attempts in flight at once to one destination (scheme, host and port), so a slow or dead receiver holds no more',
  }),
  lease: setting({
    flag: '--lease',
    arg: '<duration>',
    env: 'ASYNCOPS_LEASE',
    commands: BOTH,
    value: durationFrom(100, '100ms', 'a heartbeat renews it every third of it'),
    default: '30s',
    help: 'lease of a claimed operation, renewed by heartbeats',
  }),
  grace: setting({
    flag: '--grace',
    arg: '<duration>',
    env: 'ASYNCOPS_GRACE',
    commands: BOTH,
    value: timerDuration(0, '0s', 'no grace is a stop at once'),
    default: '10s',
    help: 'on shutdown, how long running attempts may finish',
  }),
  retryBase: setting({
    flag: '--retry-base',
    arg: '<duration>',
    env: 'ASYNCOPS_RETRY_BASE',
    commands: BOTH,
    value: duration(),
    default: '1s',
    help: 'first retry delay of a failed attempt (doubling, with jitter)',
  }),
  retryMax: setting({
    flag: '--retry-max',
    arg: '<duration>',
    env: 'ASYNCOPS_RETRY_MAX',
    commands: BOTH,
    value: duration(),
    default: '5m',
    help: 'largest retry delay',
  }),
  retention: setting({
    flag: '--retention',
    arg: '<duration>',
    env: 'ASYNCOPS_RETENTION',
    commands: BOTH,
    // 0 reads as "no retention" to some, and would delete every finished operation at once.
    value: durationFrom(1000, '1s', 'a retention of 0 would delete every finished operation at once (to keep them for years, give 3650d)'),
    default: '7d',
    help: 'keep finished operations this long',
  }),
  resultRetention: setting({
    flag: '--result-retention',
    arg: '<duration>',
    env: 'ASYNCOPS_RESULT_RETENTION',
    commands: BOTH,
    value: durationFrom(1000, '1s', 'a result retention of 0 would answer every result 410 at once (to keep them for years, give 3650d)'),
    otherwise: '--retention',
    help: 'keep results this long (410 afterwards)',
  }),
  // Far under what either store can hold: PostgreSQL sends a result as hex text, twice its size, which must stay
  // under the 512 MB a string can hold, hence the 200mb ceiling.
  maxResultBytes: setting({
    flag: '--max-result-bytes',
    arg: '<size>',
    env: 'ASYNCOPS_MAX_RESULT_BYTES',
    commands: BOTH,
    value: bytes(200),
    default: '64mb',
    help: 'largest result a handler may return (larger: the operation fails result_too_large)',
  }),
  // timeout_s is whole seconds, so its ceiling is too: 1500ms would hold every type's default to 1.5.
  maxTimeout: setting({
    flag: '--max-timeout',
    arg: '<duration>',
    env: 'ASYNCOPS_MAX_TIMEOUT',
    commands: BOTH,
    value: wholeSeconds(),
    default: '24h',
    help: 'ceiling for timeout_s, whole seconds',
  }),
  bodyLimit: setting({
    flag: '--body-limit',
    arg: '<size>',
    env: 'ASYNCOPS_BODY_LIMIT',
    commands: SERVE,
    value: bytes(LARGEST_BODY_LIMIT_MB),
    default: '1mb',
    help: 'largest request body (1kb to 64mb)',
  }),
  requestTimeout: setting({
    flag: '--request-timeout',
    arg: '<duration>',
    env: 'ASYNCOPS_REQUEST_TIMEOUT',
    commands: SERVE,
    value: timerDuration(1000, '1s', 'a request needs time to arrive'),
    default: '1m',
    help: 'how long a request may take to arrive in full, headers and body (slower is a 408 and the connection closed), and an event stream may go unread',
  }),
  apiKeysFile: setting({
    flag: '--api-keys-file',
    arg: '<path>',
    env: 'ASYNCOPS_API_KEYS_FILE',
    commands: BOTH,
    value: text(),
    help: 'API keys, one tenant:key (or tenant:sha256:<hex>) a line, or a JSON array of {tenant, key, weight, max_priority}; a worker reads only the weights',
  }),
  apiKeys: setting({
    flag: '--api-keys',
    arg: '<list>',
    env: 'ASYNCOPS_API_KEYS',
    commands: SERVE,
    value: text(),
    help: 'API keys as tenant:key,tenant2:key2 (prefer the environment: command lines are visible to other users)',
  }),
  maxPriority: setting({
    flag: '--max-priority',
    arg: '<n>',
    env: 'ASYNCOPS_MAX_PRIORITY',
    commands: SERVE,
    value: int(-1000, 1000),
    default: '1000',
    help: 'highest priority a tenant may submit, unless its API key entry sets max_priority; a higher one is refused (400 validation_failed)',
  }),
  insecure: setting({
    flag: '--insecure',
    env: 'ASYNCOPS_INSECURE',
    commands: SERVE,
    value: onOff(),
    default: 'off',
    help: 'allow a non-loopback --host without API keys',
  }),
  // Generous enough that a client polling each operation every 1–2 s, with a hundred or more in flight, or submitting a
  // batch one request after another, never meets them. On loopback without keys every client is one address (a local
  // proxy, tests, a benchmark), so a per-address limit would throttle them all together: off there.
  rateLimitCreate: setting({
    flag: '--rate-limit-create',
    arg: '<rate>',
    env: 'ASYNCOPS_RATE_LIMIT_CREATE',
    commands: SERVE,
    value: rate(),
    default: '50/s',
    defaultWhen: 'with API keys or a non-loopback --host, else off',
    help: 'creating requests per API key (or client address without keys), e.g. 50/s, 600/m, off',
  }),
  rateLimitRead: setting({
    flag: '--rate-limit-read',
    arg: '<rate>',
    env: 'ASYNCOPS_RATE_LIMIT_READ',
    commands: SERVE,
    value: rate(),
    default: '100/s',
    defaultWhen: 'with API keys or a non-loopback --host, else off',
    help: 'other requests (status polls, lists, results, cancels) per API key or client address',
  }),
  // A tenant's schedules create operations that no create rate limit counts: without a cap, a key held to 50 creates a
  // second could make a thousand every-second schedules in twenty seconds. Off where the rate limits are.
  maxSchedules: setting({
    flag: '--max-schedules',
    arg: '<n>',
    env: 'ASYNCOPS_MAX_SCHEDULES',
    commands: SERVE,
    value: intOrOff(1, 1_000_000),
    default: '1000',
    defaultWhen: 'with API keys or a non-loopback --host, else off',
    help: "schedules one tenant may hold (those created through the API; a task's own are not counted), or off",
  }),
  maxSsePerKey: setting({
    flag: '--max-sse-per-key',
    arg: '<n>',
    env: 'ASYNCOPS_MAX_SSE_PER_KEY',
    commands: SERVE,
    value: int(1, 100_000),
    default: '20',
    help: 'event streams open at once per API key (or client address)',
  }),
  // Proxies and load balancers cut a connection idle past their own timeout (often 60 s, some 30 s or less): a quiet
  // stream sends a comment this often so theirs never runs out.
  sseKeepalive: setting({
    flag: '--sse-keepalive',
    arg: '<duration>',
    env: 'ASYNCOPS_SSE_KEEPALIVE',
    commands: SERVE,
    value: timerDuration(1000, '1s', 'a comment a second keeps any proxy from seeing the stream idle'),
    default: '15s',
    help: 'how often a quiet event stream sends a keepalive comment (and re-reads its operation)',
  }),
  maxBodyDepth: setting({
    flag: '--max-body-depth',
    arg: '<n>',
    env: 'ASYNCOPS_MAX_BODY_DEPTH',
    commands: SERVE,
    value: int(2, 1000),
    default: '32',
    help: 'deepest nesting of a JSON request body',
  }),
  // Long enough that a burst of reads of one operation (pollers, streams and long-polls woken by one change) costs one
  // store read; short enough that its queue position and ETA are never noticeably old.
  readCache: setting({
    flag: '--read-cache',
    arg: '<duration>',
    env: 'ASYNCOPS_READ_CACHE',
    commands: SERVE,
    value: durationUpTo(10_000, '10s', 'queue positions and ETAs would grow old'),
    default: '250ms',
    help: 'how long a status read may be served again (0: never); any change this node makes or hears of drops it at once',
  }),
  // Read here as text; the CLI reads it with config/allowed-hosts.ts.
  allowedHosts: setting({
    flag: '--allowed-hosts',
    arg: '<names>',
    env: 'ASYNCOPS_ALLOWED_HOSTS',
    commands: SERVE,
    value: text(),
    otherwise: 'localhost and IP addresses (on loopback without keys; otherwise any)',
    help: 'without API keys: the host names the API answers to besides localhost and IP addresses (DNS rebinding), comma-separated (.example.com: its subdomains too), or * for any',
  }),
  // Read here as text; the CLI reads it with config/cors-origins.ts, which is what an origin is.
  corsOrigin: setting({
    flag: '--cors-origin',
    arg: '<origins>',
    env: 'ASYNCOPS_CORS_ORIGIN',
    commands: SERVE,
    value: text(),
    otherwise: 'none',
    help: 'origins browsers may call the API from, comma-separated (https://app.example.com,http://localhost:5173), or * (only with API keys)',
  }),
  logLevel: setting({
    flag: '--log-level',
    arg: '<level>',
    env: 'ASYNCOPS_LOG_LEVEL',
    commands: BOTH,
    value: choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    help: 'fatal, error, warn, info, debug, trace or silent',
  }),
  // Off by default: the SDK is loaded only when traces go somewhere (config/otel.ts says when, telemetry/sdk.ts starts it).
  otel: setting({
    flag: '--otel',
    env: 'ASYNCOPS_OTEL',
    commands: BOTH,
    value: onOff(),
    default: 'off',
    help: 'export OpenTelemetry traces as the OTEL_* variables say (OTLP over HTTP, localhost:4318 by default); on by itself when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set',
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** A setting's default's type: its value's, or that or undefined where it has none. */
export type DefaultOf<S> = S extends { readonly defaultValue: infer V } ? V : never;
type Defaults = { readonly [K in SettingKey as undefined extends DefaultOf<(typeof SETTINGS)[K]> ? never : K]: DefaultOf<(typeof SETTINGS)[K]> };

/** The value of every setting that has a default (durations in ms, sizes in bytes). */
export const DEFAULTS = Object.fromEntries(
  Object.entries(SETTINGS as Readonly<Record<string, Setting>>)
    .filter(([, s]) => s.defaultValue !== undefined)
    .map(([key, s]) => [key, s.defaultValue]),
) as Defaults;

/** Retry delays of failed attempts: `--retry-base`, doubling up to `--retry-max`. */
export const DEFAULT_RETRY_BACKOFF: BackoffPolicy = { baseMs: DEFAULTS.retryBase, maxMs: DEFAULTS.retryMax, factor: 2 };

/** The schedules a tenant may hold where the cap is on by default (see maxSchedules). */
export const DEFAULT_MAX_SCHEDULES: number = onByDefault(DEFAULTS.maxSchedules);

/** The rate limits where they are on by default (see rateLimitCreate). */
export const DEFAULT_RATE_LIMITS: { readonly create: Rate; readonly read: Rate } = {
  create: onByDefault(DEFAULTS.rateLimitCreate),
  read: onByDefault(DEFAULTS.rateLimitRead),
};

/** The default of a setting that is off in some places (its `defaultWhen` says where): a value, never `off`. */
function onByDefault<T>(value: T | 'off'): T {
  if (value === 'off') throw new TypeError('a default that is on in some places must be a value: its setting says where it is off');
  return value;
}
