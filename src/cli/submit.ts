// Owns: `asyncops submit TYPE --input …`: build the submission from flags, print the accepted operation, optionally wait.
// Not here: validating the input against the task's schema (the server's 400/422), the wait itself (wait.ts).
// Invariant: without --wait the exit status is 0 once accepted; with it, by how the operation ended.

import type { Command } from 'commander';
import { checkIdempotencyKey, integerArg, readJsonInput, secondsArg, timeArg, type CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';
import { CONCURRENCY_KEY, MAX_ATTEMPTS, MAX_CONCURRENCY_KEY_LENGTH, MIN_TIMEOUT_S, PRIORITY } from '../config/limits.ts';
import { followOperation } from './wait.ts';

interface SubmitFlags {
  input?: string;
  webhook?: string;
  idempotencyKey?: string;
  priority?: number;
  timeout?: number;
  maxAttempts?: number;
  runAt?: string;
  concurrencyKey?: string;
  wait?: boolean;
  waitTimeout?: number;
  output?: string;
  json?: boolean;
}

export function registerSubmit(program: Command, ctx: CliContext): void {
  program
    .command('submit')
    .description('submit an operation; prints its id (or the resource with --json)')
    .argument('<type>', 'task type, e.g. report')
    // Not a commander requiredOption: commander reports a missing one before an unknown option, and a mistyped
    // option (`--inptu`) is the likelier cause of both, so the action checks for it once the options are known.
    .option('--input <json>', 'the task input (required): inline JSON, @FILE, or @- for stdin')
    .option('--webhook <url>', 'URL to POST the signed webhook to when the operation finishes')
    .option('--idempotency-key <key>', 'resubmitting with the same key and input returns the same operation')
    // The server's ranges, so a value it would refuse is a usage error here.
    .option('--priority <n>', 'higher runs first', integerArg(PRIORITY.min, PRIORITY.max))
    .option('--timeout <seconds>', "maximum execution time of one attempt (timeout_s), at most the server's --max-timeout", integerArg(MIN_TIMEOUT_S))
    .option('--max-attempts <n>', 'attempts before the operation fails', integerArg(1, MAX_ATTEMPTS))
    .option('--run-at <time>', 'do not start before this RFC 3339 time', timeArg)
    .option('--concurrency-key <key>', "operations with the same key run at most the type's keyConcurrency at once (a customer or account id)")
    .option('--wait', 'wait for the operation to finish, with a progress bar (TTY) or lines')
    .option('--wait-timeout <seconds>', 'with --wait: stop waiting after this long (exit 4)', secondsArg)
    .option('-o, --output <file>', 'with --wait: write the result to FILE when completed')
    .option('--json', 'print the operation resource as JSON')
    .action(async (type: string, opts: SubmitFlags, command: Command) => {
      if (opts.input === undefined) throw new UsageError("required option '--input <json>' not specified");
      if ((opts.output !== undefined || opts.waitTimeout !== undefined) && !opts.wait) {
        throw new UsageError('-o/--output and --wait-timeout need --wait');
      }
      checkIdempotencyKey(opts.idempotencyKey);
      if (opts.concurrencyKey !== undefined && !CONCURRENCY_KEY.test(opts.concurrencyKey)) {
        throw new UsageError(`--concurrency-key must be 1..${MAX_CONCURRENCY_KEY_LENGTH} letters, digits or _ . : @ / - (a letter or digit first)`);
      }
      const input = await readJsonInput(opts.input, ctx.io.stdin);
      const client = ctx.client(command, { patient: opts.wait === true || opts.idempotencyKey !== undefined });
      const accepted = await client.submit(type, input, {
        webhookUrl: opts.webhook,
        idempotencyKey: opts.idempotencyKey,
        priority: opts.priority,
        timeoutS: opts.timeout,
        maxAttempts: opts.maxAttempts,
        runAt: opts.runAt,
        concurrencyKey: opts.concurrencyKey,
      });
      if (!opts.wait) {
        ctx.show(accepted, opts.json, (op) => op.id);
        return;
      }
      ctx.note(`submitted ${accepted.id}`);
      await followOperation(ctx, client, accepted.id, { timeoutS: opts.waitTimeout, output: opts.output, json: opts.json });
    });
}
