// Owns: the `serve` and `worker` commands: their flags (flag, then ASYNCOPS_* environment, then default), made from
// the settings table, loading task modules, starting asyncops and shutting it down gracefully on SIGINT/SIGTERM.
// Not here: the settings themselves (config/settings.ts), what the parts do (main.ts wires them).
// Invariant: configuration is parsed and checked once, before anything starts; a bad value exits 2.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import type { TaskDefinition } from '../../main.ts';
import { webhookSecretKey } from '../../signing/webhook-signature.ts';
import {
  DEFAULT_MAX_SCHEDULES,
  DEFAULT_RATE_LIMITS,
  DEFAULT_RETRY_BACKOFF,
  SETTINGS,
  type DefaultOf,
  type ServerCommand,
  type Setting,
  type SettingKey,
} from '../../config/settings.ts';
import { EXIT_CODES, UsageError } from '../exit-codes.ts';
import { bindFailure } from '../bind-failure.ts';
import { envSwitch, settingOption } from './setting-options.ts';
import { mergeApiKeys, parseApiKeysEnv, readApiKeysFile } from './api-keys.ts';
import { corsOriginsRefusal, parseCorsOrigins, type CorsOrigins } from '../../config/cors-origins.ts';
import { parseAllowedHosts, type AllowedHosts } from '../../config/allowed-hosts.ts';
import { webhookLeaseRefusal } from '../../config/webhook-lease.ts';
import { tracingRequested } from '../../config/otel.ts';

/** A flag's value: its default's type, or that or undefined where the default is not commander's to apply. */
type FlagValue<S> = S extends { readonly defaultWhen: string } ? DefaultOf<S> | undefined : DefaultOf<S>;
type ServerFlags = { -readonly [K in Exclude<SettingKey, 'corsOrigin' | 'allowedHosts'>]: FlagValue<(typeof SETTINGS)[K]> } & {
  corsOrigin?: CorsOrigins;
  allowedHosts?: AllowedHosts;
};

/** The settings a command takes, in the table's order. */
const settingsOf = (role: ServerCommand) => (Object.entries(SETTINGS) as [SettingKey, Setting][]).filter(([, setting]) => setting.commands.includes(role));

/** A rate or cap flag as the server takes it: unset → the default for how exposed it is; off → null (no limit). */
const limitOption = <T>(flag: T | 'off' | undefined, fallback: T | null): T | null => (flag === 'off' ? null : (flag ?? fallback));

/** How long past --grace a stop may take (giving attempts back, closing connections) before the process just exits. */
const SHUTDOWN_MARGIN_MS = 10_000;

/** Loopback only: an address other machines cannot reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

function serverOptions(command: Command, role: ServerCommand): Command {
  for (const [key, setting] of settingsOf(role)) {
    if (key === 'corsOrigin') command.addOption(settingOption(SETTINGS.corsOrigin, { parse: parseCorsOrigins }));
    else if (key === 'allowedHosts') command.addOption(settingOption(SETTINGS.allowedHosts, { parse: parseAllowedHosts }));
    else command.addOption(settingOption(setting));
  }
  return command;
}

export function registerServerCommands(program: Command): void {
  serverOptions(program.command('serve').description('run the HTTP API with workers and the webhook dispatcher'), 'serve').action(
    async (flags: ServerFlags, command: Command) => {
      await runServer(flags, 'serve', command);
    },
  );
  serverOptions(program.command('worker').description('run workers and the webhook dispatcher only (no HTTP API)'), 'worker').action(
    async (flags: ServerFlags, command: Command) => {
      await runServer(flags, 'worker', command);
    },
  );
}

async function loadTasks(paths: readonly string[], checkTasks: (tasks: readonly TaskDefinition[], builtIn?: boolean) => void): Promise<TaskDefinition[]> {
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
    // Each module's own tasks, as the registry will take them (definitions, schemas, routes): named with the module.
    try {
      checkTasks(list as TaskDefinition[], false);
    } catch (error) {
      throw new UsageError(`--tasks ${path}: ${(error as Error).message}`);
    }
    tasks.push(...(list as TaskDefinition[]));
  }
  return tasks;
}

/** How an option was given, as a message should name it: its flag, or the environment variable it came from. */
function givenAs(command: Command, key: SettingKey): string {
  const setting: Setting = SETTINGS[key];
  return command.getOptionValueSource(key) === 'env' && setting.env !== undefined ? setting.env : setting.flag;
}

async function runServer(flags: ServerFlags, role: ServerCommand, command: Command): Promise<void> {
  // A switch on the command line wins; otherwise the environment decides.
  const given = flags as Record<string, unknown>;
  for (const [key, setting] of settingsOf(role)) {
    if (setting.value.kind === 'switch') given[key] = given[key] === true || envSwitch(setting);
  }
  const apiKeys = mergeApiKeys(
    flags.apiKeysFile === undefined ? [] : readApiKeysFile(flags.apiKeysFile, givenAs(command, 'apiKeysFile')),
    flags.apiKeys === undefined ? [] : parseApiKeysEnv(flags.apiKeys, givenAs(command, 'apiKeys')),
  );
  const corsRefusal = role === 'serve' ? corsOriginsRefusal(flags.corsOrigin ?? null, apiKeys.length > 0) : null;
  if (corsRefusal !== null) throw new UsageError(`${givenAs(command, 'corsOrigin')}: ${corsRefusal}`);
  const leaseRefusal =
    flags.webhookLease === undefined ? null : webhookLeaseRefusal(flags.webhookLease, flags.webhookTimeout, givenAs(command, 'webhookTimeout'));
  if (leaseRefusal !== null) throw new UsageError(`${givenAs(command, 'webhookLease')}: ${leaseRefusal}`);
  if (role === 'serve' && apiKeys.length === 0 && !flags.insecure && !isLoopbackHost(flags.host)) {
    throw new UsageError(`refusing to serve on ${flags.host} without API keys: give --api-keys-file or ASYNCOPS_API_KEYS, bind 127.0.0.1, or pass --insecure`);
  }
  // A worker serves no HTTP and has no --host.
  const exposed = apiKeys.length > 0 || (role === 'serve' && !isLoopbackHost(flags.host));
  // Loaded here, not at the top, so client commands start without the server's dependencies.
  const { assembleAsyncOps, checkTasks, parseStoreSpec, TracingSettingError } = await import('../../main.ts');
  const tasks = await loadTasks(flags.tasks ?? [], checkTasks);
  // Across modules, and beside the built-in report.
  try {
    checkTasks(tasks, flags.builtinTasks !== false);
  } catch (error) {
    throw new UsageError(`--tasks: ${(error as Error).message}`);
  }
  for (const secret of flags.webhookSecret ?? []) {
    // Here, not in the option's reader: commander's message would repeat the secret.
    try {
      webhookSecretKey(secret);
    } catch (error) {
      throw new UsageError(`${givenAs(command, 'webhookSecret')}: ${(error as Error).message}`);
    }
  }
  try {
    parseStoreSpec(flags.store);
  } catch (error) {
    throw new UsageError(`--store: ${(error as Error).message.replace(/^store: /, '')}`);
  }
  const asyncops = await assembleAsyncOps({
    // A specification, so the store reports its errors to the server's logger.
    store: flags.store,
    tasks,
    builtInTasks: flags.builtinTasks,
    workers: role === 'worker' ? true : flags.workers,
    http: role === 'serve',
    concurrency: flags.concurrency,
    keyConcurrency: flags.keyConcurrency,
    maxResultBytes: flags.maxResultBytes,
    webhookSecrets: flags.webhookSecret,
    allowPrivateWebhooks: flags.allowPrivateWebhooks,
    webhookScheduleMs: flags.webhookSchedule,
    webhookTimeoutMs: flags.webhookTimeout,
    webhookLeaseMs: flags.webhookLease,
    webhookConcurrency: flags.webhookConcurrency,
    webhookConcurrencyPerDestination: flags.webhookConcurrencyPerDestination,
    leaseMs: flags.lease,
    shutdownGraceMs: flags.grace,
    retryBackoff: { ...DEFAULT_RETRY_BACKOFF, baseMs: flags.retryBase, maxMs: flags.retryMax },
    retentionMs: flags.retention,
    resultRetentionMs: flags.resultRetention,
    bodyLimit: flags.bodyLimit,
    requestTimeoutMs: flags.requestTimeout,
    limits: { maxTimeoutS: flags.maxTimeout / 1000 },
    // A worker takes only the tenants' weights from them (its claims take turns as the servers' do).
    apiKeys,
    ...(role === 'serve'
      ? {
          maxPriority: flags.maxPriority,
          // Limits default on only when exposed or keyed (why: config/settings.ts, rateLimitCreate).
          rateLimits: {
            create: limitOption(flags.rateLimitCreate, exposed ? DEFAULT_RATE_LIMITS.create : null),
            read: limitOption(flags.rateLimitRead, exposed ? DEFAULT_RATE_LIMITS.read : null),
          },
          maxStreamsPerKey: flags.maxSsePerKey,
          sseKeepaliveMs: flags.sseKeepalive,
          // On by default where the rate limits are (why: config/settings.ts, maxSchedules).
          maxSchedules: limitOption(flags.maxSchedules, exposed ? DEFAULT_MAX_SCHEDULES : null),
          dashboard: flags.dashboard,
          corsOrigins: flags.corsOrigin ?? undefined,
          // Without keys a page on a name that resolves to this machine could read and act on everything (DNS
          // rebinding): on loopback only localhost, IP addresses and the names given are answered. A keyless server
          // on another address (--insecure, behind a gateway that passes its own Host) is reachable by anyone there
          // anyway: any host, unless names are given. With keys, any host.
          allowedHosts: apiKeys.length > 0 ? '*' : (flags.allowedHosts ?? (isLoopbackHost(flags.host) ? [] : '*')),
          readCacheMs: flags.readCache,
          maxBodyDepth: flags.maxBodyDepth,
        }
      : {}),
    logger: { level: flags.logLevel },
    otel: tracingRequested(flags.otel),
  }).catch((error: unknown) => {
    // An OTEL_* variable it cannot follow is a mistake in how it was started, as a bad flag is (exit 2).
    throw error instanceof TracingSettingError ? new UsageError(error.message) : error;
  });
  // A task's stray promise (one it neither awaited nor caught) would otherwise end the process and every attempt in it.
  process.on('unhandledRejection', (reason: unknown) => {
    asyncops.logger.error({ err: reason }, 'an unhandled promise rejection (a task that neither awaited nor caught a promise?); the server carries on');
  });
  // A throw outside any promise (from a task's timer or event callback) ends the process, as in any Node program: what
  // went on in it is unknown, so carrying on is not safe. It is said as a log line, which a log collector reads, before
  // Node prints the stack and exits.
  process.on('uncaughtExceptionMonitor', (error: Error) => {
    asyncops.logger.fatal(
      { err: error },
      'an uncaught exception (a task that threw from a timer or callback?); the process exits, and the attempts it was running are taken again once their leases lapse (--lease); a task run with inWorkerThread would have failed its attempt alone',
    );
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // A second Ctrl-C is someone at the terminal who will not wait out --grace; a supervisor's repeated SIGTERM
      // still gets the graceful stop it asked for.
      if (signal !== 'SIGINT') return;
      asyncops.logger.warn({ signal }, 'asyncops: second SIGINT, exiting now; attempts still running are taken again once their leases lapse (--lease)');
      process.exit(EXIT_CODES.interrupted);
    }
    stopping = true;
    asyncops.logger.info({ signal }, 'asyncops: shutting down');
    // Past the grace period close() gives attempts back to the store; if the store itself does not answer (a
    // partition), nothing would end the process: a supervisor's stop must not hang.
    // --grace is at most 24d (settings.ts), so this stays within what a timer holds.
    const giveUpMs = flags.grace + SHUTDOWN_MARGIN_MS;
    setTimeout(() => {
      asyncops.logger.error({ waitedMs: giveUpMs }, 'asyncops: shutdown did not finish within --grace and 10 s (the store not answering?); exiting');
      process.exit(1);
    }, giveUpMs).unref();
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
  try {
    if (role === 'serve') {
      await asyncops.listen({ port: flags.port, host: flags.host });
    } else {
      await asyncops.start();
      asyncops.logger.info({ store: asyncops.store.kind, concurrency: flags.concurrency }, 'asyncops worker started');
    }
  } catch (error) {
    // Told to stop before it had started (waiting for another node's migration, say): the shutdown ends the process.
    if (stopping) return;
    // What it opened goes before the one line is printed, or the store's idle connections hold the exit back.
    await asyncops.close().catch(() => {});
    const unbound = role === 'serve' ? bindFailure(error, flags.host, flags.port) : null;
    throw unbound === null ? error : new Error(unbound, { cause: error });
  }
}
