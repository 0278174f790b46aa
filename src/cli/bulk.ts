// Owns: `asyncops retry ID` (run a failed or cancelled operation again) and `asyncops bulk retry|cancel|delete|replay`
// with its filter options (a dry run counts), `bulk get ID` and `bulk list`, through the SDK.
// Not here: what a filter selects and which filters an action takes (the server answers 400 naming the field; only a
// status that is none is refused here).
// Invariant: each prints what the server answered (one line, or its JSON with --json); errors are one line; `--wait`
// exits 1 when the bulk action failed.

import { setTimeout as sleep } from 'node:timers/promises';
import { setLongTimeout } from '../client/delay.ts';
import { Option, type Command } from 'commander';
import { OPERATION_STATUSES, type BulkAction, type BulkActionKind, type BulkFilter } from '../client/index.ts';
import { PRIORITY } from '../config/limits.ts';
import { idArg, integerArg, pageLimitArg, secondsArg, timeArg, type CliContext } from './context.ts';
import { EXIT_CODES, UsageError } from './exit-codes.ts';
import { describeOperation, sanitize } from './format.ts';

function describeBulkAction(a: BulkAction): string {
  const counts = `${a.processed}/${a.total} processed, ${a.succeeded} changed, ${a.skipped} skipped`;
  return sanitize([a.id, a.action, a.status, counts, a.error ? `error ${a.error.code}: ${a.error.message}` : ''].filter((p) => p !== '').join('  '));
}

interface FilterOptions {
  status?: string;
  type?: string;
  errorCode?: string;
  createdAfter?: string;
  createdBefore?: string;
  tenant?: string;
  operationType?: string;
  webhookUrl?: string;
}

interface BulkOptions extends FilterOptions {
  priority?: number;
  dryRun?: boolean;
  wait?: boolean;
  waitTimeout?: number;
  json?: boolean;
}

/** The filter the options name (the server checks it: a field an action does not take is a 400 naming it). */
function filterOf(opts: FilterOptions): BulkFilter {
  const filter: Record<string, string> = {};
  const fields: ReadonlyArray<[keyof FilterOptions, string]> = [
    ['status', 'status'],
    ['type', 'type'],
    ['errorCode', 'error_code'],
    ['createdAfter', 'created_after'],
    ['createdBefore', 'created_before'],
    ['tenant', 'tenant'],
    ['operationType', 'operation_type'],
    ['webhookUrl', 'url'],
  ];
  for (const [option, field] of fields) if (opts[option] !== undefined) filter[field] = opts[option];
  return filter as BulkFilter;
}

const POLL_MS = 250;

export function registerBulk(program: Command, ctx: CliContext): void {
  program
    .command('retry')
    .description('run a failed or cancelled operation again, as a fresh run (attempts from 1, its webhook sent again)')
    .argument('<id>', 'operation id', idArg)
    .option('--priority <n>', 'run it at this priority (higher runs first; default: its own)', integerArg(PRIORITY.min, PRIORITY.max))
    .option('--json', 'print the operation resource as JSON')
    .action(async (id: string, opts: { priority?: number; json?: boolean }, command: Command) => {
      ctx.show(await ctx.client(command).retry(id, { priority: opts.priority }), opts.json, describeOperation);
    });

  const bulk = program.command('bulk').description('act on every operation a filter selects: retry, cancel, delete; replay dead deliveries; get, list');

  const run = async (action: BulkActionKind, opts: BulkOptions, command: Command) => {
    // Refused before anything is sent: a bulk action changes many operations, and this one would not have been waited on.
    if (opts.waitTimeout !== undefined && !opts.wait) throw new UsageError('--wait-timeout needs --wait');
    // A wait polls, and rides out a restart or a 429 as `wait` does; the create itself is never sent twice.
    const client = ctx.client(command, { patient: opts.wait === true });
    const filter = filterOf(opts);
    if (opts.dryRun) {
      const count = await client.countBulkAction(action, filter);
      return opts.json ? ctx.printJson({ action, filter, count }) : ctx.printLine(`${count} would be processed (dry run)`);
    }
    let current = await client.createBulkAction(action, filter, { priority: opts.priority });
    if (opts.wait) {
      // The deadline ends a poll under way too: one the server never answers (or retries of it) would hold the wait.
      const expired = new AbortController();
      const timer = setLongTimeout(() => expired.abort(), (opts.waitTimeout ?? 600) * 1000);
      try {
        while ((current.status === 'pending' || current.status === 'processing') && !expired.signal.aborted) {
          await sleep(POLL_MS, undefined, { signal: expired.signal });
          current = await client.getBulkAction(current.id, { signal: expired.signal });
        }
      } catch (error) {
        if (!expired.signal.aborted) throw error;
      } finally {
        timer.clear();
      }
      if (current.status === 'pending' || current.status === 'processing') {
        ctx.note(`${current.id} still ${current.status} after --wait-timeout; it goes on`);
        ctx.exitCode = EXIT_CODES.timedOut;
      } else if (current.status === 'failed') ctx.exitCode = EXIT_CODES.failed;
    }
    ctx.show(current, opts.json, describeBulkAction);
  };

  const actions: ReadonlyArray<[string, BulkActionKind, string]> = [
    ['retry', 'retry', 'run every failed or cancelled operation the filter selects again'],
    ['cancel', 'cancel', 'cancel every pending or processing operation the filter selects'],
    ['delete', 'delete', 'delete every finished operation the filter selects (not one whose webhook is still being delivered)'],
    [
      'replay',
      'replay_deliveries',
      'send every dead webhook delivery the filter selects again, but a superseded one (--operation-type, --webhook-url, --created-*)',
    ],
  ];
  for (const [name, action, description] of actions) {
    const sub = bulk.command(name).description(description);
    // A retry's alone: the server refuses a priority on the other actions.
    if (action === 'retry') {
      sub.option(
        '--priority <n>',
        'run the redriven at this priority (default: each its own); a low one, say -10, lets live traffic go first',
        integerArg(PRIORITY.min, PRIORITY.max),
      );
    }
    sub
      .addOption(new Option('--status <status>', 'only operations in this status').choices(OPERATION_STATUSES))
      .option('--type <type>', 'only operations of this task type')
      .option('--error-code <code>', 'only operations whose error has this code')
      .option('--created-after <time>', 'only those created at or after this RFC 3339 time', timeArg)
      .option('--created-before <time>', 'only those created before this RFC 3339 time', timeArg)
      .option('--tenant <tenant>', 'admin keys: only this tenant (default: every tenant)')
      .option('--operation-type <type>', 'replay: only deliveries of operations of this type')
      // Not --url: that is the server's, for every command.
      .option('--webhook-url <url>', 'replay: only deliveries to this webhook URL')
      .option('--dry-run', 'only count what would be processed')
      .option('--wait', 'wait until it has run (exit 1 if it failed)')
      .option('--wait-timeout <seconds>', 'with --wait: give up waiting after this long (default 600)', secondsArg)
      .option('--json', "print the API's JSON")
      .action((opts: BulkOptions, command: Command) => run(action, opts, command));
  }

  bulk
    .command('get')
    .description('a bulk action: its status and counts')
    .argument('<id>', 'bulk action id (bulk_…)', idArg)
    .option('--json', "print the API's JSON")
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      ctx.show(await ctx.client(command).getBulkAction(id), opts.json, describeBulkAction);
    });

  bulk
    .command('list')
    .description('bulk actions, newest first')
    .option('--limit <n>', 'page size', pageLimitArg)
    .option('--cursor <cursor>', "continue from a previous page's next_cursor")
    .option('--tenant <tenant>', 'admin keys: only this tenant')
    .option('--json', "print the API's JSON")
    .action(async (opts: { limit?: number; cursor?: string; tenant?: string; json?: boolean }, command: Command) => {
      const page = await ctx.client(command).listBulkActions({ limit: opts.limit, cursor: opts.cursor, tenant: opts.tenant });
      if (opts.json) return ctx.printJson(page);
      for (const action of page.items) ctx.printLine(describeBulkAction(action));
      if (page.items.length === 0) ctx.note('no bulk actions');
      if (page.next_cursor !== null) ctx.note(`more: --cursor ${page.next_cursor}`);
    });
}
