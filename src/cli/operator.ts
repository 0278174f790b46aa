// Owns: `asyncops counts` (operations per type and status) and `asyncops overview` (per type over a window: what waits,
// runs and failed, throughput, failure rate, pickup, ETA error), the operator's two reads at a glance.
// Not here: the figures themselves (the server's GET /operations/counts and GET /stats/overview).
// Invariant: plain output is a table under a header; --json is the API's body.

import type { Command } from 'commander';
import { OPERATION_STATUSES } from '../client/index.ts';
import { integerArg, type CliContext } from './context.ts';
import { sanitize, table } from './format.ts';

interface OperatorFlags {
  tenant?: string;
  json?: boolean;
}

const dash = (value: number | null | undefined, format: (n: number) => string = String): string =>
  value === null || value === undefined ? '-' : format(value);

export function registerOperator(program: Command, ctx: CliContext): void {
  program
    .command('counts')
    .description('how many operations there are, per type and status')
    .option('--tenant <tenant>', "an admin key: only this tenant's (else every tenant's)")
    .option('--json', 'print { items } as JSON')
    .action(async (opts: OperatorFlags, command: Command) => {
      const items = await ctx.client(command).counts({ tenant: opts.tenant });
      if (opts.json) {
        ctx.printJson({ items });
        return;
      }
      // One row per type, one column per status.
      const types = [...new Set(items.map((c) => c.type))];
      const rows = types.map((type) => [
        sanitize(type),
        ...OPERATION_STATUSES.map((status) => String(items.find((c) => c.type === type && c.status === status)?.count ?? 0)),
      ]);
      ctx.printLine(table([['TYPE', ...OPERATION_STATUSES.map((s) => s.toUpperCase())], ...rows]));
    });

  program
    .command('overview')
    .description('per task type: what waits, runs and failed, and how the last window went')
    .option('--window <seconds>', 'how far back (60 to 86400, default 3600)', integerArg(60, 86_400))
    .option('--tenant <tenant>', "an admin key: only this tenant's (else every tenant's)")
    .option('--json', 'print the overview as JSON')
    .action(async (opts: OperatorFlags & { window?: number }, command: Command) => {
      const overview = await ctx.client(command).overview({ windowS: opts.window, tenant: opts.tenant });
      if (opts.json) {
        ctx.printJson(overview);
        return;
      }
      const rows = overview.types.map((t) => [
        sanitize(t.type),
        String(t.pending),
        String(t.processing),
        String(t.failed),
        String(t.completed_in_window),
        String(t.failed_in_window),
        String(t.throughput_per_min),
        `${Math.round(t.failure_rate * 1000) / 10}%`,
        dash(t.pickup_ms?.p50, (ms) => `${ms}ms`),
        dash(t.pickup_ms?.p95, (ms) => `${ms}ms`),
        dash(t.eta_error?.median, (e) => `${Math.round(e * 1000) / 10}%`),
      ]);
      ctx.printLine(
        table([['TYPE', 'PENDING', 'RUNNING', 'FAILED', 'DONE', 'FAILED(W)', 'PER MIN', 'FAIL RATE', 'PICKUP P50', 'PICKUP P95', 'ETA ERR'], ...rows]),
      );
      ctx.note(`window: last ${overview.window_s} s, as of ${overview.generated_at}`);
    });
}
