// Owns: the `serve` and `worker` commands: their flags (flag, then ASYNCOPS_* environment, then default),
// loading task modules, starting asyncops and shutting it down gracefully on SIGINT/SIGTERM.
// Not here: what the parts do (main.ts wires them).
// Invariant: configuration is parsed and checked once, before anything starts; a bad value exits 2.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, Option, InvalidArgumentError } from 'commander';
import { checkTaskDefinition, type TaskDefinition } from '../runtime/task.ts';
import { isIP } from 'node:net';
import { parseDuration } from './durations.ts';
import { UsageError } from './exit-codes.ts';
import { mergeApiKeys, parseApiKeysEnv, readApiKeysFile } from './api-keys.ts';

interface ServerFlags {
  port: number;
  host: string;
  store: string;
  tasks?: string[];
  concurrency: number;
  workers: boolean;
  builtinTasks: boolean;
  allowPrivateWebhooks: boolean;
  webhookSecret?: string;
  webhookSchedule?: number[];
  webhookTimeout: number;
  webhookConcurrency: number;
  webhookConcurrencyPerDestination?: number;
  lease: number;
  grace: number;
  retention: number;
  resultRetention?: number;
  bodyLimit: number;
  retryBase: number;
  retryMax: number;
  maxTimeout: number;
  maxResultBytes: number;
  logLevel: string;
  apiKeysFile?: string;
  apiKeys?: string;
  insecure: boolean;
  rateLimitCreate?: Rate | 'off';
  rateLimitRead?: Rate | 'off';
  maxSsePerKey: number;
  maxBodyDepth: number;
  readCache: number;
}

interface Rate {
  max: number;
  windowMs: number;
}

const int = (name: string, min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

const duration = (value: string) => {
  const ms = parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 500ms, 10s, 5m, 2h or 7d');
  return ms;
};

/** timeout_s is whole seconds, so its ceiling is too: 1500ms would hold every type's default to 1.5. */
const wholeSeconds = (value: string) => {
  const ms = duration(value);
  if (ms < 1000 || ms % 1000 !== 0) throw new InvalidArgumentError('must be a whole number of seconds, at least 1 (such as 300, 90s, 5m or 24h)');
  return ms;
};

const cacheDuration = (value: string) => {
  const ms = duration(value);
  if (ms > 10_000) throw new InvalidArgumentError('must be at most 10s: queue positions and ETAs would grow old');
  return ms;
};

const durationList = (value: string) => value.split(',').map((part) => duration(part.trim()));

/** A size in bytes such as `1mb` or `65536`, from 1kb up to `maxMb` megabytes. */
const bytes = (maxMb: number) => (value: string) => {
  const match = /^(\d+)\s*(b|kb|k|mb|m)?$/i.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a size such as 1mb or 65536');
  const unit = (match[2] ?? 'b').toLowerCase();
  const n = Number(match[1]) * (unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1);
  if (n < 1024 || n > maxMb * 1024 * 1024) throw new InvalidArgumentError(`must be between 1kb and ${maxMb}mb`);
  return n;
};

const RATE_WINDOWS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
/** The http/rate-limits.ts defaults, repeated here so client commands need not load the server's modules. */
const DEFAULT_RATES = { create: { max: 50, windowMs: 1000 }, read: { max: 100, windowMs: 1000 } } as const;

/** `20/s`, `600/m`, `10000/h`, or `off` (a word: commander turns a parser's null into an empty string). */
const rate = (value: string): Rate | 'off' => {
  if (/^\s*off\s*$/i.test(value)) return 'off';
  const match = /^\s*(\d+)\s*\/\s*(s|m|h)\s*$/i.exec(value);
  const max = Number(match?.[1]);
  if (!match || !Number.isInteger(max) || max < 1 || max > 1_000_000) throw new InvalidArgumentError('expected a rate such as 20/s, 600/m or 10000/h (1..1000000), or off');
  return { max, windowMs: RATE_WINDOWS_MS[match[2]!.toLowerCase()]! };
};

/** A rate flag as the server takes it: unset → the default for how exposed it is; off → null (no limit). */
const rateOption = (flag: Rate | 'off' | undefined, fallback: Rate | null): Rate | null => (flag === 'off' ? null : flag ?? fallback);

/** Loopback only: an address other machines cannot reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

function serverOptions(command: Command, role: 'serve' | 'worker'): Command {
  command
    .addOption(new Option('--store <spec>', 'a file path, sqlite:PATH, :memory: or a postgres:// URL').env('ASYNCOPS_STORE').default('./asyncops.db'))
    .addOption(new Option('--tasks <path...>', 'module(s) exporting a task or an array of tasks (default export or `tasks`); the env var takes a comma-separated list').env('ASYNCOPS_TASKS'))
    .addOption(new Option('--no-builtin-tasks', 'do not register the built-in report task'))
    .addOption(new Option('--concurrency <n>', 'handlers running at once in this process').env('ASYNCOPS_CONCURRENCY').default(8).argParser(int('--concurrency', 1, 1000)))
    .addOption(new Option('--allow-private-webhooks', 'let webhooks reach loopback and private addresses (development, tests) (env: ASYNCOPS_ALLOW_PRIVATE_WEBHOOKS=true|false)').default(false))
    .addOption(new Option('--webhook-secret <secrets>', 'whsec_… signing secret(s), comma or space separated, newest first (default: generated once, kept in the store)').env('ASYNCOPS_WEBHOOK_SECRET'))
    .addOption(new Option('--webhook-schedule <delays>', 'upper bounds of the delays between webhook attempts (each retry is jittered within its step) (default: 5s,5m,30m,2h,5h,10h,10h)').env('ASYNCOPS_WEBHOOK_SCHEDULE').argParser(durationList))
    .addOption(new Option('--webhook-timeout <duration>', 'timeout of one webhook attempt').env('ASYNCOPS_WEBHOOK_TIMEOUT').default(10_000, '10s').argParser(duration))
    .addOption(new Option('--webhook-concurrency <n>', 'webhook attempts in flight at once in this process').env('ASYNCOPS_WEBHOOK_CONCURRENCY').default(32).argParser(int('--webhook-concurrency', 1, 1000)))
    .addOption(new Option('--webhook-concurrency-per-destination <n>', 'webhook attempts in flight at once to one destination (scheme, host and port), so a slow or dead receiver holds no more (default: a quarter of --webhook-concurrency, at least 1)').env('ASYNCOPS_WEBHOOK_CONCURRENCY_PER_DESTINATION').argParser(int('--webhook-concurrency-per-destination', 1, 1000)))
    .addOption(new Option('--lease <duration>', 'lease of a claimed operation, renewed by heartbeats').env('ASYNCOPS_LEASE').default(30_000, '30s').argParser(duration))
    .addOption(new Option('--grace <duration>', 'on shutdown, how long running attempts may finish').env('ASYNCOPS_GRACE').default(10_000, '10s').argParser(duration))
    .addOption(new Option('--retry-base <duration>', 'first retry delay of a failed attempt (doubling, with jitter)').env('ASYNCOPS_RETRY_BASE').default(1_000, '1s').argParser(duration))
    .addOption(new Option('--retry-max <duration>', 'largest retry delay').env('ASYNCOPS_RETRY_MAX').default(300_000, '5m').argParser(duration))
    .addOption(new Option('--retention <duration>', 'keep finished operations this long').env('ASYNCOPS_RETENTION').default(7 * 86_400_000, '7d').argParser(duration))
    .addOption(new Option('--result-retention <duration>', 'keep results this long (410 afterwards; default: --retention)').env('ASYNCOPS_RESULT_RETENTION').argParser(duration))
    // PostgreSQL sends a result as hex text, twice its size, which must stay under the 512 MB a string can hold.
    .addOption(new Option('--max-result-bytes <size>', 'largest result a handler may return (larger: the operation fails result_too_large)').env('ASYNCOPS_MAX_RESULT_BYTES').default(64 * 1024 * 1024, '64mb').argParser(bytes(200)))
    .addOption(new Option('--max-timeout <duration>', 'ceiling for timeout_s, whole seconds').env('ASYNCOPS_MAX_TIMEOUT').default(86_400_000, '24h').argParser(wholeSeconds))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent').env('ASYNCOPS_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']));
  if (role === 'serve') {
    command
      .addOption(new Option('--port <n>', 'port to listen on (0: any free port)').env('ASYNCOPS_PORT').default(8080).argParser(int('--port', 0, 65535)))
      .addOption(new Option('--host <address>', 'address to bind').env('ASYNCOPS_HOST').default('127.0.0.1'))
      .addOption(new Option('--no-workers', 'API only: run no workers and no webhook dispatcher'))
      .addOption(new Option('--body-limit <size>', 'largest request body').env('ASYNCOPS_BODY_LIMIT').default(1024 * 1024, '1mb').argParser(bytes(64)))
      .addOption(new Option('--api-keys-file <path>', 'API keys, one tenant:key (or tenant:sha256:<hex>) a line, or a JSON array of {tenant, key}').env('ASYNCOPS_API_KEYS_FILE'))
      .addOption(new Option('--api-keys <list>', 'API keys as tenant:key,tenant2:key2 (prefer the environment: command lines are visible to other users)').env('ASYNCOPS_API_KEYS'))
      .addOption(new Option('--insecure', 'allow a non-loopback --host without API keys (env: ASYNCOPS_INSECURE=true|false)').default(false))
      .addOption(new Option('--rate-limit-create <rate>', 'creating requests per API key (or client address without keys), e.g. 50/s, 600/m, off (default: 50/s with API keys or a non-loopback --host, else off)').env('ASYNCOPS_RATE_LIMIT_CREATE').argParser(rate))
      .addOption(new Option('--rate-limit-read <rate>', 'other requests (status polls, lists, results, cancels) per API key or client address (default: 100/s with API keys or a non-loopback --host, else off)').env('ASYNCOPS_RATE_LIMIT_READ').argParser(rate))
      .addOption(new Option('--max-sse-per-key <n>', 'event streams open at once per API key (or client address)').env('ASYNCOPS_MAX_SSE_PER_KEY').default(20).argParser(int('--max-sse-per-key', 1, 100_000)))
      .addOption(new Option('--max-body-depth <n>', 'deepest nesting of a JSON request body').env('ASYNCOPS_MAX_BODY_DEPTH').default(32).argParser(int('--max-body-depth', 2, 1000)))
      .addOption(new Option('--read-cache <duration>', 'how long a status read may be served again (0: never); any change this node makes or hears of drops it at once').env('ASYNCOPS_READ_CACHE').default(250, '250ms').argParser(cacheDuration));
  }
  return command;
}

export function registerServerCommands(program: Command): void {
  serverOptions(program.command('serve').description('run the HTTP API with workers and the webhook dispatcher'), 'serve').action(async (flags: ServerFlags, command: Command) => {
    await runServer(flags, 'serve', command);
  });
  serverOptions(program.command('worker').description('run workers and the webhook dispatcher only (no HTTP API)'), 'worker').action(async (flags: ServerFlags, command: Command) => {
    await runServer(flags, 'worker', command);
  });
}

async function loadTasks(paths: readonly string[]): Promise<TaskDefinition[]> {
  const tasks: TaskDefinition[] = [];
  for (const path of paths) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
    } catch (error) {
      throw new UsageError(`--tasks ${path}: cannot load (${(error as Error).message.split('\n')[0]})`);
    }
    const exported = mod.default ?? mod.tasks;
    const list = Array.isArray(exported) ? exported : exported === undefined ? [] : [exported];
    if (list.length === 0) throw new UsageError(`--tasks ${path}: export a task (defineTask) or an array of tasks as default or as \`tasks\``);
    for (const task of list as TaskDefinition[]) {
      try {
        checkTaskDefinition(task);
      } catch (error) {
        throw new UsageError(`--tasks ${path}: ${(error as Error).message}`);
      }
    }
    tasks.push(...(list as TaskDefinition[]));
  }
  return tasks;
}

/**
 * A boolean from the environment, read strictly: commander would turn a switch on for any value,
 * so ASYNCOPS_INSECURE=false would mean true. Unset is false; anything but these words is refused.
 */
export function envSwitch(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return false;
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new UsageError(`${name}: expected true or false (1/0, yes/no, on/off), got ${JSON.stringify(raw.slice(0, 40))}`);
}

/** How an option was given, as a message should name it: its flag, or the environment variable it came from. */
function givenAs(command: Command, key: keyof ServerFlags, flag: string, env: string): string {
  return command.getOptionValueSource(key) === 'env' ? env : flag;
}

async function runServer(flags: ServerFlags, role: 'serve' | 'worker', command: Command): Promise<void> {
  // A flag on the command line wins; otherwise the environment decides.
  flags.allowPrivateWebhooks ||= envSwitch('ASYNCOPS_ALLOW_PRIVATE_WEBHOOKS');
  if (role === 'serve') flags.insecure ||= envSwitch('ASYNCOPS_INSECURE');
  flags.tasks = flags.tasks?.flatMap((path) => path.split(',')).map((path) => path.trim()).filter((path) => path.length > 0);
  const apiKeys = mergeApiKeys(
    flags.apiKeysFile === undefined ? [] : readApiKeysFile(flags.apiKeysFile, givenAs(command, 'apiKeysFile', '--api-keys-file', 'ASYNCOPS_API_KEYS_FILE')),
    flags.apiKeys === undefined ? [] : parseApiKeysEnv(flags.apiKeys, givenAs(command, 'apiKeys', '--api-keys', 'ASYNCOPS_API_KEYS')),
  );
  if (role === 'serve' && apiKeys.length === 0 && !flags.insecure && !isLoopbackHost(flags.host)) {
    throw new UsageError(`refusing to serve on ${flags.host} without API keys: give --api-keys-file or ASYNCOPS_API_KEYS, bind 127.0.0.1, or pass --insecure`);
  }
  // A worker serves no HTTP and has no --host.
  const exposed = apiKeys.length > 0 || (role === 'serve' && !isLoopbackHost(flags.host));
  const tasks = await loadTasks(flags.tasks ?? []);
  const secrets = flags.webhookSecret?.split(/[\s,]+/).filter((s) => s.length > 0);
  for (const secret of secrets ?? []) {
    if (!/^whsec_[A-Za-z0-9+/=]{16,}$/.test(secret)) throw new UsageError('--webhook-secret: each secret must look like whsec_<base64>');
  }
  // Loaded here, not at the top, so client commands start without the server's dependencies.
  const [{ createAsyncOps }, { parseStoreSpec }] = await Promise.all([import('../main.ts'), import('../store/open.ts')]);
  try {
    parseStoreSpec(flags.store);
  } catch (error) {
    throw new UsageError(`--store: ${(error as Error).message.replace(/^store: /, '')}`);
  }
  const asyncops = await createAsyncOps({
    // A specification, so the store reports its errors to the server's logger.
    store: flags.store,
    tasks,
    builtInTasks: flags.builtinTasks,
    workers: role === 'worker' ? true : flags.workers,
    http: role === 'serve',
    concurrency: flags.concurrency,
    maxResultBytes: flags.maxResultBytes,
    webhookSecrets: secrets,
    allowPrivateWebhooks: flags.allowPrivateWebhooks,
    webhookScheduleMs: flags.webhookSchedule,
    webhookTimeoutMs: flags.webhookTimeout,
    webhookConcurrency: flags.webhookConcurrency,
    webhookConcurrencyPerDestination: flags.webhookConcurrencyPerDestination,
    leaseMs: flags.lease,
    shutdownGraceMs: flags.grace,
    retryBackoff: { baseMs: flags.retryBase, maxMs: flags.retryMax, factor: 2 },
    retentionMs: flags.retention,
    resultRetentionMs: flags.resultRetention,
    bodyLimit: flags.bodyLimit,
    limits: { maxTimeoutS: flags.maxTimeout / 1000 },
    ...(role === 'serve'
      ? {
          apiKeys,
          // On loopback without keys every client is one address (a local proxy, tests, a benchmark), so a
          // per-address limit would throttle them all together: limits default on only when exposed or keyed.
          rateLimits: {
            create: rateOption(flags.rateLimitCreate, exposed ? DEFAULT_RATES.create : null),
            read: rateOption(flags.rateLimitRead, exposed ? DEFAULT_RATES.read : null),
          },
          maxStreamsPerKey: flags.maxSsePerKey,
          readCacheMs: flags.readCache,
          maxBodyDepth: flags.maxBodyDepth,
        }
      : {}),
    logger: { level: flags.logLevel },
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    asyncops.logger.info({ signal }, 'asyncops: shutting down');
    asyncops.close().then(
      () => process.exit(0),
      (error: unknown) => {
        asyncops.logger.error({ err: error }, 'asyncops: shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  if (role === 'serve') {
    await asyncops.listen({ port: flags.port, host: flags.host });
  } else {
    await asyncops.start();
    asyncops.logger.info({ store: asyncops.store.kind, concurrency: flags.concurrency }, 'asyncops worker started');
  }
}
