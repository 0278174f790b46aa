// Owns: the logger each request carries (`request.log`): a child of the app's logger bound to the request id, made the
// first time the request logs.
// Not here: what is logged, or how a request is shown in a log line (stream-tokens.ts, safeRequestLogger).
// Invariant: a line a request logs carries the same bindings as with Fastify's own factory.

import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino';

/**
 * Fastify makes a child logger for every request, and pino redacts a child's bindings as it makes it: about 1.5 % of a
 * create's CPU (bench/README.md), on a server whose request logging is off and whose requests mostly log nothing.
 * This one makes the child only when a request logs.
 */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  let child: FastifyBaseLogger | null = null;
  const real = () => (child ??= logger.child(bindings, options));
  return {
    get level() {
      return child?.level ?? options.level ?? logger.level;
    },
    set level(level: LevelWithSilentOrString) {
      real().level = level;
    },
    fatal: (...args: Parameters<FastifyBaseLogger['fatal']>) => real().fatal(...args),
    error: (...args: Parameters<FastifyBaseLogger['error']>) => real().error(...args),
    warn: (...args: Parameters<FastifyBaseLogger['warn']>) => real().warn(...args),
    info: (...args: Parameters<FastifyBaseLogger['info']>) => real().info(...args),
    debug: (...args: Parameters<FastifyBaseLogger['debug']>) => real().debug(...args),
    trace: (...args: Parameters<FastifyBaseLogger['trace']>) => real().trace(...args),
    silent: (...args: Parameters<FastifyBaseLogger['silent']>) => real().silent(...args),
    child: (childBindings: Bindings, childOptions?: ChildLoggerOptions) => real().child(childBindings, childOptions),
  };
}
