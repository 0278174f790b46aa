// Owns: `asyncops history ID`: what happened to an operation, oldest first, one page or (--all) every page.
// Not here: pagination mechanics (the SDK's history/historyAll), what each kind means (docs/http-api.md).
// Invariant: plain output is one event a line under a header, its kind's fields as one DETAILS column; --json is the
// API's page shape.

import type { Command } from 'commander';
import type { HistoryEvent, Page } from '../client/index.ts';
import { idArg, pageLimitArg, type CliContext } from './context.ts';
import { formatPercent, sanitize, table } from './format.ts';

interface HistoryFlags {
  limit?: number;
  cursor?: string;
  all?: boolean;
  json?: boolean;
}

/** An event's own fields, as `key=value` words (an error as its code and message; the progress as a percentage). */
function describeEventDetails(event: HistoryEvent): string {
  const { seq: _seq, at: _at, kind, ...details } = event;
  const words: string[] = [];
  for (const [key, value] of Object.entries(details)) {
    if (value === null || value === undefined) continue;
    if (key === 'progress' && kind === 'progress' && typeof value === 'number') words.push(formatPercent(value));
    else if (key === 'message' && typeof value === 'string') words.push(JSON.stringify(value));
    else if (typeof value === 'object' && 'code' in value)
      words.push(`${key}=${String(value.code)}: ${String((value as { message?: unknown }).message ?? '')}`);
    else words.push(`${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return words.join(' ');
}

export function registerHistory(program: Command, ctx: CliContext): void {
  program
    .command('history')
    .description('what happened to an operation, oldest first: created, claimed, progress, failed attempts, its end, webhook attempts')
    .argument('<id>', 'operation id', idArg)
    .option('--limit <n>', 'page size', pageLimitArg)
    .option('--cursor <cursor>', "continue from a previous page's next_cursor")
    .option('--all', 'follow next_cursor through every page')
    .option('--json', 'print { items, next_cursor } as JSON')
    .action(async (id: string, opts: HistoryFlags, command: Command) => {
      const client = ctx.client(command, { patient: opts.all === true });
      let page: Page<HistoryEvent>;
      if (opts.all) {
        page = { items: [], next_cursor: null };
        for await (const event of client.historyAll(id, { limit: opts.limit, cursor: opts.cursor })) page.items.push(event);
      } else {
        page = await client.history(id, { limit: opts.limit, cursor: opts.cursor });
      }
      if (opts.json) {
        ctx.printJson(page);
        return;
      }
      const rows = page.items.map((e) => [String(e.seq), e.at, e.kind, describeEventDetails(e)].map(sanitize));
      ctx.printLine(table([['SEQ', 'AT', 'KIND', 'DETAILS'], ...rows]));
      if (page.next_cursor !== null) ctx.note(`more: --cursor ${page.next_cursor}`);
    });
}
