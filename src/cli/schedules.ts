// Owns: `asyncops schedules` (list) and its subcommands create, get, pause, resume, delete, through the SDK.
// Not here: validating the expression or the input (the server's 400/422), firing ticks (the server's scheduler).
// Invariant: each prints the schedule the server answered with (one line, or its JSON with --json); errors are one line.

import type { Command } from 'commander';
import type { Schedule, ScheduleDetail } from '../client/index.ts';
import { checkIdempotencyKey, idArg, refuseUnknownSubcommands, integerArg, pageLimitArg, readJsonInput, type CliContext } from './context.ts';
import { PRIORITY } from '../config/limits.ts';
import { sanitize } from './format.ts';

interface ScheduleCreateFlags {
  input?: string;
  timezone?: string;
  webhookUrl?: string;
  priority?: number;
  idempotencyKey?: string;
  json?: boolean;
}

export function describeSchedule(s: Schedule): string {
  const state = s.paused ? 'paused' : `next ${s.next_run_at ?? 'never'}`;
  const parts = [s.id, s.type, `"${s.cron}"`, s.timezone, state, s.priority === 0 ? '' : `priority ${s.priority}`, s.origin === 'task' ? 'declared' : ''];
  return sanitize(parts.filter((p) => p !== '').join('  '));
}

function describeDetail(s: ScheduleDetail): string {
  const ticks = s.recent_ticks.map((t) => `  ${t.tick}  ${t.operation_id ?? '(no operation)'}${t.skipped > 0 ? `  after ${t.skipped} skipped` : ''}`);
  return [describeSchedule(s), ...ticks.map(sanitize)].join('\n');
}

export function registerSchedules(program: Command, ctx: CliContext): void {
  const list = async (opts: { limit?: number; cursor?: string; tenant?: string; json?: boolean }, command: Command) => {
    const page = await ctx.client(command).listSchedules({ limit: opts.limit, cursor: opts.cursor, tenant: opts.tenant });
    if (opts.json) return ctx.printJson(page);
    for (const schedule of page.items) ctx.printLine(describeSchedule(schedule));
    // On stderr, so a script reading stdout sees no line for no schedule.
    if (page.items.length === 0) ctx.note('no schedules');
    if (page.next_cursor !== null) ctx.note(`more: --cursor ${page.next_cursor}`);
  };
  const schedules = program
    .command('schedules')
    .description('recurring schedules: list (the default), create, get, pause, resume, delete')
    // No options of its own: commander would take them from the subcommands' (their --json).
    .action((_opts: unknown, command: Command) => list({}, command));

  schedules
    .command('list')
    .description('list recurring schedules, newest first')
    .option('--limit <n>', 'page size', pageLimitArg)
    .option('--cursor <cursor>', "continue from a previous page's next_cursor")
    .option('--tenant <tenant>', "an admin key: only this tenant's schedules (else every tenant's)")
    .option('--json', "print the API's JSON")
    .action(list);

  schedules
    .command('create')
    .description('create a schedule: an operation of TYPE at every tick of CRON (5 fields, or 6 with seconds first)')
    .argument('<type>', 'task type')
    .argument('<cron>', 'cron expression, quoted: "*/5 * * * *" or "*/10 * * * * *"')
    .option('--input <json>', 'the input of every operation: inline JSON, @FILE, or @- for stdin (default {})')
    .option('--timezone <zone>', 'IANA time zone the expression is read in (default UTC)')
    .option('--webhook-url <url>', 'called when each operation it creates ends')
    .option(
      '--priority <n>',
      'of every operation it creates: higher runs first (default 0, or the tenant ceiling where that is below 0)',
      integerArg(PRIORITY.min, PRIORITY.max),
    )
    .option('--idempotency-key <key>', 'creating again with the same key and flags returns the same schedule (while it exists)')
    .option('--json', 'print the schedule as JSON')
    .action(async (type: string, cron: string, opts: ScheduleCreateFlags, command: Command) => {
      checkIdempotencyKey(opts.idempotencyKey);
      const input = opts.input === undefined ? {} : await readJsonInput(opts.input, ctx.io.stdin);
      // With a key, a create whose reply was lost is sent again: it cannot make a second schedule.
      const client = ctx.client(command, { patient: opts.idempotencyKey !== undefined });
      const schedule = await client.createSchedule(type, input, cron, {
        timezone: opts.timezone,
        webhookUrl: opts.webhookUrl,
        priority: opts.priority,
        idempotencyKey: opts.idempotencyKey,
      });
      ctx.show(schedule, opts.json, describeSchedule);
    });

  schedules
    .command('get')
    .description('show a schedule, its next tick and the operations its recent ticks created')
    .argument('<id>', 'schedule id (sch_…)', idArg)
    .option('--json', 'print the schedule as JSON')
    .action(async (id: string, opts: { json?: boolean }, command: Command) => {
      ctx.show(await ctx.client(command).getSchedule(id), opts.json, describeDetail);
    });

  for (const action of ['pause', 'resume'] as const) {
    schedules
      .command(action)
      .description(action === 'pause' ? 'pause a schedule: no tick fires until it is resumed' : 'resume a schedule from its next tick after now')
      .argument('<id>', 'schedule id (sch_…)', idArg)
      .option('--json', 'print the schedule as JSON')
      .action(async (id: string, opts: { json?: boolean }, command: Command) => {
        const client = ctx.client(command);
        ctx.show(action === 'pause' ? await client.pauseSchedule(id) : await client.resumeSchedule(id), opts.json, describeSchedule);
      });
  }

  schedules
    .command('delete')
    .description('delete a schedule created through the API (the operations it created stay)')
    .argument('<id>', 'schedule id (sch_…)', idArg)
    .action(async (id: string, _opts: unknown, command: Command) => {
      await ctx.client(command).deleteSchedule(id);
      ctx.note(`deleted ${sanitize(id)}`);
    });

  refuseUnknownSubcommands(schedules);
}
