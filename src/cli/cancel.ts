// Owns: `asyncops cancel ID`: ask the server to cancel, print what it answered.
// Not here: waiting until a running handler has actually stopped (`asyncops wait ID` does that).
// Invariant: a cancel of a finished operation is the server's 409, so exit 6 with its problem.

import type { Command } from 'commander';
import { idArg, type CliContext } from './context.ts';
import { describeOperation } from './format.ts';

export function registerCancel(program: Command, ctx: CliContext): void {
  program
    .command('cancel')
    .description('cancel a pending or running operation')
    .argument('<id>', 'operation id', idArg)
    .option('--json', 'print the operation resource as JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      ctx.show(await ctx.client(command).cancel(id), opts.json, describeOperation);
    });
}
