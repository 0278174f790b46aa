// Owns: `asyncops wait ID`, and the wait-show-save flow that `submit --wait` shares with it.
// Not here: poll pacing (the SDK's wait), drawing progress (progress.ts), fetching results on its own (result.ts).
// Invariant: the exit status says how the operation ended (exit-codes.ts); the result is saved only when completed.

import type { Command } from 'commander';
import type { AsyncOpsClient, Operation } from '../client/index.ts';
import { idArg, secondsArg, type CliContext } from './context.ts';
import { WaitInterruptedError, exitCodeForOperation } from './exit-codes.ts';
import { describeOperation } from './format.ts';
import { createProgressView } from './progress.ts';
import { saveResult } from './result.ts';

export interface FollowOptions {
  /** Stop waiting after this many seconds (exit 4); the operation itself goes on. */
  timeoutS?: number;
  output?: string;
  json?: boolean;
}

/** The signals that stop a wait: Ctrl-C, and a supervisor's stop. */
const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Waits for the operation with a progress display, prints how it ended, saves the result if asked, sets the exit status. */
export async function followOperation(ctx: CliContext, client: AsyncOpsClient, id: string, options: FollowOptions): Promise<Operation> {
  const view = createProgressView(ctx.io.stderr);
  // Ctrl-C ends the wait through its signal, so the bar is stopped (the cursor shown again) and the exit is the CLI's
  // own (130, naming how to follow the operation again), where the default would kill the process mid-line.
  const interrupted = new AbortController();
  const onInterrupt = (signal: NodeJS.Signals) => interrupted.abort(new WaitInterruptedError(id, signal));
  for (const signal of INTERRUPTS) process.on(signal, onInterrupt);
  let operation: Operation;
  try {
    operation = await client.wait(id, {
      onProgress: (op) => view.update(op),
      signal: interrupted.signal,
      ...(options.timeoutS === undefined ? {} : { timeoutMs: options.timeoutS * 1000 }),
    });
  } finally {
    for (const signal of INTERRUPTS) process.off(signal, onInterrupt);
    view.finish();
  }
  if (operation.status === 'completed' && options.output !== undefined) {
    await saveResult(ctx, await client.result(id), options.output);
  }
  // With the result on standard output (-o -), what closes the wait goes to standard error: stdout is the result's alone.
  if (options.output === '-') ctx.note(options.json ? JSON.stringify(operation, null, 2) : describeOperation(operation));
  else ctx.show(operation, options.json, describeOperation);
  ctx.exitCode = exitCodeForOperation(operation);
  return operation;
}

export function registerWait(program: Command, ctx: CliContext): void {
  program
    .command('wait')
    .description('wait for an operation to finish, showing its progress; exit status by how it ended')
    .argument('<id>', 'operation id', idArg)
    .option('--timeout <seconds>', 'give up waiting after this long (exit 4; the operation goes on)', secondsArg)
    .option('-o, --output <file>', 'when completed, write the result to FILE')
    .option('--json', 'print the final operation resource as JSON')
    .action(async (id: string, opts: { timeout?: number; output?: string; json?: boolean }, command: Command) => {
      const client = ctx.client(command, { patient: true });
      await followOperation(ctx, client, id, { timeoutS: opts.timeout, output: opts.output, json: opts.json });
    });
}
