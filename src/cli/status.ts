// Owns: `asyncops status ID`: one request, the operation as a line (or the resource as JSON).
// Not here: waiting for a change (wait.ts).
// Invariant: exit 0 whenever the server answered with the operation, whatever its status.

import type { Command } from 'commander';
import { idArg, type CliContext } from './context.ts';
import { describeOperation } from './format.ts';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show an operation: status, progress, ETA, error')
    .argument('<id>', 'operation id', idArg)
    .option('--json', 'print the operation resource as JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      ctx.show(await ctx.client(command).get(id), opts.json, describeOperation);
    });
}
