// Owns: `asyncops list`: operations newest first, one page or (--all) every page.
// Not here: pagination mechanics (the SDK's list/listAll).
// Invariant: plain output is one operation a line under a header; --json is the API's page shape.

import { Option, type Command } from 'commander';
import { OPERATION_STATUSES, type Operation } from '../client/index.ts';
import { pageLimitArg, timeArg, type CliContext } from './context.ts';
import { formatPercent, sanitize, table } from './format.ts';

interface ListFlags {
  status?: Operation['status'];
  type?: string;
  errorCode?: string;
  schedule?: string;
  createdAfter?: string;
  createdBefore?: string;
  find?: string;
  tenant?: string;
  limit?: number;
  cursor?: string;
  all?: boolean;
  json?: boolean;
}

export function registerList(program: Command, ctx: CliContext): void {
  program
    .command('list')
    .description('list operations, newest first')
    .addOption(new Option('--status <status>', 'only operations in this status').choices(OPERATION_STATUSES))
    .option('--type <type>', 'only operations of this task type')
    .option('--error-code <code>', 'only operations whose error (or last attempt) has this code')
    .option('--schedule <id>', "only operations this schedule's ticks created")
    .option('--created-after <time>', 'only those created at or after this RFC 3339 time', timeArg)
    .option('--created-before <time>', 'only those created before this RFC 3339 time', timeArg)
    .option('--find <id-or-key>', 'only the operation with this id, or the one this Idempotency-Key created')
    .option('--tenant <tenant>', "an admin key: only this tenant's operations (else every tenant's)")
    .option('--limit <n>', 'page size', pageLimitArg)
    .option('--cursor <cursor>', "continue from a previous page's next_cursor")
    .option('--all', 'follow next_cursor through every page')
    .option('--json', 'print { items, next_cursor } as JSON')
    .action(async (opts: ListFlags, command: Command) => {
      // Every page of --all is a request of its own: one lost to a blip or a 429 is asked again, not the whole walk.
      const client = ctx.client(command, { patient: opts.all === true });
      const filter = {
        status: opts.status,
        type: opts.type,
        errorCode: opts.errorCode,
        scheduleId: opts.schedule,
        createdAfter: opts.createdAfter,
        createdBefore: opts.createdBefore,
        q: opts.find,
        tenant: opts.tenant,
        limit: opts.limit,
      };
      let page: { items: Operation[]; next_cursor: string | null };
      if (opts.all) {
        page = { items: [], next_cursor: null };
        for await (const op of client.listAll({ ...filter, cursor: opts.cursor })) page.items.push(op);
      } else {
        page = await client.list({ ...filter, cursor: opts.cursor });
      }
      if (opts.json) {
        ctx.printJson(page);
        return;
      }
      // An admin key's list may span tenants: then each row says whose it is.
      const tenants = new Set(page.items.map((op) => op.tenant)).size > 1;
      const rows = page.items.map((op) =>
        [op.id, ...(tenants ? [op.tenant] : []), op.type, op.status, formatPercent(op.progress), op.created_at].map(sanitize),
      );
      ctx.printLine(table([['ID', ...(tenants ? ['TENANT'] : []), 'TYPE', 'STATUS', 'PROGRESS', 'CREATED'], ...rows]));
      if (page.next_cursor !== null) ctx.note(`more: --cursor ${page.next_cursor}`);
    });
}
