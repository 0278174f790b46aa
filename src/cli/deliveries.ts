// Owns: `asyncops deliveries` (list, --dead, --operation ID) and `asyncops deliveries retry ID` (replay one).
// Not here: delivering webhooks or deciding when one is dead (the server's dispatcher).
// Invariant: --dead is exactly `state=dead`; a retry prints the delivery the server scheduled.

import { Option, type Command } from 'commander';
import type { DeliveryState } from '../client/index.ts';
import { idArg, pageLimitArg, refuseUnknownSubcommands, type CliContext } from './context.ts';
import { UsageError } from './exit-codes.ts';
import { describeDelivery, sanitize } from './format.ts';

const DELIVERY_STATES: readonly DeliveryState[] = ['pending', 'delivered', 'retrying', 'dead'];

interface DeliveriesFlags {
  dead?: boolean;
  state?: DeliveryState;
  operation?: string;
  limit?: number;
  cursor?: string;
  json?: boolean;
}

export function registerDeliveries(program: Command, ctx: CliContext): void {
  const deliveries = program
    .command('deliveries')
    .description("list webhook deliveries: --dead for the dead-letter list, --operation ID for one operation's attempts")
    .option('--dead', 'only dead deliveries (same as --state dead)')
    .addOption(new Option('--state <state>', 'only deliveries in this state').choices(DELIVERY_STATES))
    .option('--operation <id>', 'every delivery of one operation, with each HTTP attempt', idArg)
    .option('--limit <n>', 'page size', pageLimitArg)
    .option('--cursor <cursor>', "continue from a previous page's next_cursor")
    .option('--json', "print the API's JSON")
    .action(async (opts: DeliveriesFlags, command: Command) => {
      if (opts.dead && opts.state !== undefined && opts.state !== 'dead') throw new UsageError('--dead contradicts --state');
      const client = ctx.client(command);
      if (opts.operation !== undefined) {
        // One operation's deliveries are one short list, not a filtered page: a filter given with it would be ignored.
        const filters = [
          opts.dead ? '--dead' : null,
          opts.state === undefined ? null : '--state',
          opts.limit === undefined ? null : '--limit',
          opts.cursor === undefined ? null : '--cursor',
        ].filter((f) => f !== null);
        if (filters.length > 0) throw new UsageError(`--operation lists every delivery of one operation: it takes no ${filters.join(', ')}`);
        const result = await client.operationDeliveries(opts.operation);
        if (opts.json) return ctx.printJson(result);
        for (const delivery of result.items) {
          ctx.printLine(describeDelivery(delivery));
          for (const a of delivery.attempts) {
            const outcome = a.status_code !== null ? `HTTP ${a.status_code}` : (a.error ?? '-');
            const took = `  ${a.duration_ms} ms`;
            ctx.printLine(sanitize(`  #${a.attempt} ${a.trigger}  ${a.started_at}  ${outcome}${took}`));
          }
        }
        return;
      }
      const page = await client.deliveries({ state: opts.dead ? 'dead' : opts.state, limit: opts.limit, cursor: opts.cursor });
      if (opts.json) return ctx.printJson(page);
      for (const delivery of page.items) ctx.printLine(describeDelivery(delivery));
      // On stderr, so a script reading stdout sees no line for no delivery.
      if (page.items.length === 0) ctx.note(opts.dead ? 'no dead deliveries' : 'no deliveries');
      if (page.next_cursor !== null) ctx.note(`more: --cursor ${page.next_cursor}`);
    });

  deliveries
    .command('retry')
    .description('replay a delivery now (a dead one gets another attempt)')
    .argument('<id>', 'delivery id', idArg)
    .option('--json', 'print the delivery as JSON')
    .action(async (id: string, _opts: unknown, command: Command) => {
      // `deliveries` has a --json of its own, and Commander hands the flag to it wherever it stands on the line.
      const { json } = command.optsWithGlobals<{ json?: boolean }>();
      ctx.show(await ctx.client(command).retryDelivery(id), json, describeDelivery);
    });

  refuseUnknownSubcommands(deliveries);
}
