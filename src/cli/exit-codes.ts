// Owns: the CLI's exit statuses, in one table that `asyncops --help` prints, and the mapping from outcomes to them.
// Not here: printing (main.ts prints the one error line), or what the SDK throws (src/client/errors.ts).
// Invariant: a status is chosen only here; every command returns or throws and main.ts exits with the status it set
// (exitCodeForOperation) or exitCodeForError() of what it threw.

import { CommanderError } from 'commander';
import { AsyncOpsApiError, AsyncOpsNetworkError, AsyncOpsUnexpectedResponseError, AsyncOpsWaitTimeoutError, type Operation } from '../client/index.ts';

export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  usage: 2,
  cancelled: 3,
  timedOut: 4,
  unreachable: 5,
  apiError: 6,
  /** 128 + SIGINT's number, as a shell reports a command Ctrl-C stopped. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

const MEANINGS: readonly (readonly [ExitCode, string])[] = [
  [EXIT_CODES.ok, 'success; for --wait and wait: the operation completed'],
  [EXIT_CODES.failed, 'the operation failed (error.code other than timeout)'],
  [
    EXIT_CODES.usage,
    'usage error: unknown command or option, bad argument, unreadable --input, output that cannot be written (-o FILE, or stdout), a listen --port that cannot be bound',
  ],
  [EXIT_CODES.cancelled, 'the operation was cancelled'],
  [
    EXIT_CODES.timedOut,
    'timed out: the operation failed with error.code "timeout", or the wait\'s own --timeout/--wait-timeout elapsed first (the operation goes on; stderr says which)',
  ],
  [
    EXIT_CODES.unreachable,
    'no asyncops API at --url: the server could not be reached (after retries, for waits, bulk --wait and --all), or what answered is not an asyncops API (an HTML page, say, whatever its status)',
  ],
  [EXIT_CODES.apiError, 'the server refused the request with an error (4xx/5xx problem)'],
  [EXIT_CODES.interrupted, 'a wait stopped by Ctrl-C (SIGINT) or SIGTERM: the operation goes on; stderr says how to follow it again'],
];

export function exitCodesHelp(): string {
  return ['Exit status:', ...MEANINGS.map(([code, meaning]) => `  ${code}  ${meaning}`)].join('\n');
}

/** A mistake in how the CLI was invoked that commander cannot see (an --input that is not JSON, say). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A wait that the user stopped (Ctrl-C, SIGTERM); the operation itself goes on. */
export class WaitInterruptedError extends Error {
  constructor(operationId: string, signal: NodeJS.Signals) {
    super(`stopped waiting (${signal}); ${operationId} goes on: \`asyncops wait ${operationId}\` follows it again`);
    this.name = 'WaitInterruptedError';
  }
}

/** The exit status of a finished wait: by the operation's terminal status. */
export function exitCodeForOperation(operation: Operation): ExitCode {
  switch (operation.status) {
    case 'completed':
      return EXIT_CODES.ok;
    case 'cancelled':
      return EXIT_CODES.cancelled;
    case 'failed':
      return operation.error?.code === 'timeout' ? EXIT_CODES.timedOut : EXIT_CODES.failed;
    default:
      return EXIT_CODES.ok;
  }
}

export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  if (error instanceof UsageError) return EXIT_CODES.usage;
  if (error instanceof WaitInterruptedError) return EXIT_CODES.interrupted;
  // An answer that is not the API's (an HTML page) means --url names something else: as good as unreachable.
  if (error instanceof AsyncOpsNetworkError || error instanceof AsyncOpsUnexpectedResponseError) return EXIT_CODES.unreachable;
  if (error instanceof AsyncOpsApiError) return EXIT_CODES.apiError;
  if (error instanceof AsyncOpsWaitTimeoutError) return EXIT_CODES.timedOut;
  return EXIT_CODES.failed;
}

/** What the server's words leave out for a CLI user: its 401 says to send a header, which the CLI does from a flag. */
export function errorHint(error: unknown): string {
  return error instanceof AsyncOpsApiError && error.status === 401 ? ' (the CLI sends the key given with --api-key or ASYNCOPS_API_KEY)' : '';
}
