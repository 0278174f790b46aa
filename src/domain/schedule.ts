// Owns: what a recurring schedule is, checking its cron expression and time zone, its next tick, and the missed-tick
// policy (which tick a firing creates an operation for, how many it passes over). Not here: storing or firing ticks
// (store/, runtime/schedules.ts), waking up on time (runtime/scheduler.ts). Invariant: pure; time comes in as `now`.

import { Cron } from 'croner';
import type { FieldError } from './errors.ts';

export type ScheduleOrigin = 'api' | 'task';

export interface Schedule {
  readonly id: string;
  readonly tenant: string;
  readonly type: string;
  readonly input: unknown;
  readonly cron: string;
  readonly timezone: string;
  readonly webhookUrl: string | null;
  /** The priority of the operations its ticks create (0 for one a task declares). */
  readonly priority: number;
  readonly paused: boolean;
  /** The next tick to fire; null when the expression matches no later time. */
  readonly nextRunAt: number | null;
  /** The last tick fired (with or without an operation). */
  readonly lastRunAt: number | null;
  /** Missed ticks passed over so far (the missed-tick policy). */
  readonly skippedTicks: number;
  /** `task`: declared by a task definition (kept in step at start-up); `api`: created through the API. */
  readonly origin: ScheduleOrigin;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One fired tick, newest first in what a schedule reads: the operation it created (null: none could be). */
export interface ScheduleTick {
  readonly tick: number;
  readonly operationId: string | null;
  readonly skipped: number;
  readonly firedAt: number;
}

export const DEFAULT_TIMEZONE = 'UTC';

/**
 * How late a tick may fire and still count as on time. A tick later than this (the scheduler was down, or every node
 * was) is missed: of the ticks missed in a row, only the most recent fires (one catch-up operation) and the older ones
 * are passed over and counted. Quartz's default misfire threshold.
 */
export const MISFIRE_THRESHOLD_MS = 60_000;

/** Past this many, missed ticks are not counted one by one (a catch-up after a long outage stays cheap). */
export const MAX_COUNTED_SKIPS = 1_000;

// Five fields (minute precision) or six (seconds first); day-of-month and day-of-week combine with OR, as in Vixie cron.
// Across a change of the clocks, an expression whose seconds, minutes and hours have no wildcard or step is one at fixed
// times, lists and ranges included (`30 1,13 * * *` runs once at 01:30 on a fall-back night, as in Vixie cron), not
// croner's default of single values only, which ran such a list twice then and not at all in a spring-forward gap.
const CRON_OPTIONS = { mode: '5-or-6-parts', domAndDow: false, fixedTimeRule: 'no-wildcard' } as const;

/** Whether `zone` is an IANA time zone this runtime knows (or UTC). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The problems of a cron expression and time zone, paths `/cron` and `/timezone`; empty when both are good. */
export function checkCron(cron: string, timezone: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!isTimeZone(timezone))
    errors.push({ path: '/timezone', message: `"${timezone.slice(0, 64)}" is not an IANA time zone or a UTC offset (such as Europe/Berlin, UTC or +05:30)` });
  // croner takes a single ISO 8601 date-time (2030-01-01T00:00:00Z) as a one-off date, rolling an impossible one over
  // (the 30th of February is the 2nd of March): not an expression, and a schedule of it fires once at most.
  const fields = cron.trim().split(/\s+/);
  if (fields.length < 5 && !fields[0]!.startsWith('@')) {
    errors.push({ path: '/cron', message: FIELD_COUNT });
    return errors;
  }
  try {
    // Read on the UTC clock, whatever zone the host is in: whether some date matches does not depend on it.
    const job = new Cron(cron, { ...CRON_OPTIONS, timezone: 'UTC', paused: true });
    // A valid expression no date matches (0 0 30 2 *): a schedule of it would never fire.
    if (job.nextRun() === null) errors.push({ path: '/cron', message: 'never fires: no date matches it' });
    // Nor one whose every match falls in the zone's daylight-saving gap (*/30 2 * 3 0L in Europe/Berlin: the last
    // Sunday of March has no 02:xx there); a fixed time in a gap moves to the hour after, so only intervals meet this.
    else if (errors.length === 0 && !isFixedTime(fields) && !matchesOnTheClock(job, timezone)) {
      errors.push({ path: '/cron', message: `never fires in ${timezone}: every time it matches falls in a daylight-saving gap there` });
    }
  } catch (error) {
    errors.push({ path: '/cron', message: cronMessage(error, fields.length) });
  }
  return errors;
}

const FIELD_COUNT = 'is not a cron expression: it takes 5 fields, or 6 with seconds first';

/** The nicknames croner takes, as the five fields they stand for. */
const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/**
 * Whether croner takes the expression for a fixed time under CRON_OPTIONS' `no-wildcard` rule (its second, minute and
 * hour fields without a wildcard or step), which in a daylight-saving gap runs at the first time after it.
 */
function isFixedTime(fields: readonly string[]): boolean {
  const nickname = fields.length === 1 ? NICKNAMES[fields[0]!.toLowerCase()] : undefined;
  const five = nickname === undefined ? fields : nickname.split(' ');
  const [second, minute, hour] = five.length === 5 ? ['0', ...five] : five;
  return [second, minute, hour].every((field) => field !== undefined && !/[*/?]/.test(field));
}

/** How many matches in a gap the search below passes (five or so a year) before it takes it for one that never fires. */
const GAP_STEPS = 500;
const QUARTER_HOUR_MS = 15 * 60_000;

/**
 * Whether some time the expression matches (read on a wall clock: `job` runs in UTC) exists on the zone's clock.
 * Not croner's own search in the zone: for an expression whose every match is in a gap it walked every second of the
 * years it looks through, a minute and more of a blocked event loop for one request. A match in a gap moves the search
 * on to the next quarter hour of the wall clock (every zone's gaps start and end on one: Pacific/Chatham's at 02:45 and
 * 03:45), so each gap costs a few steps.
 */
function matchesOnTheClock(job: Cron, timezone: string): boolean {
  const clock = wallClockOf(timezone);
  let after: Date | undefined;
  for (let step = 0; step < GAP_STEPS; step++) {
    const match = job.nextRun(after);
    if (match === null) return false;
    if (existsOn(clock, match.getTime())) return true;
    after = new Date(Math.ceil((match.getTime() + 1) / QUARTER_HOUR_MS) * QUARTER_HOUR_MS - 1);
  }
  return false;
}

/** The zone's wall-clock time at an instant, as the UTC milliseconds of the same fields. */
function wallClockOf(timezone: string): (instant: number) => number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (instant) => {
    const part = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, Number(p.value)]));
    return Date.UTC(part['year']!, part['month']! - 1, part['day']!, part['hour']!, part['minute']!, part['second']!) + (((instant % 1000) + 1000) % 1000);
  };
}

/** Whether a wall-clock time (UTC milliseconds of its fields) is one the zone's clock shows: not in a gap. */
function existsOn(clock: (instant: number) => number, wall: number): boolean {
  // The zone's offset a day either side: one of them is the offset at that wall time, if the clock ever shows it.
  for (const probe of [wall - 86_400_000, wall + 86_400_000]) {
    const offset = clock(probe) - probe;
    if (clock(wall - offset) === wall) return true;
  }
  return false;
}

/** The six fields' names, in order, for an error in an expression of six (which a year written last is mistaken for). */
const SIX_FIELDS = '6 fields are second, minute, hour, day of month, month and day of week';

function cronMessage(error: unknown, fieldCount: number): string {
  const text = error instanceof Error ? error.message : String(error);
  // croner's words for a wrong count of fields offer seven (a year), which this mode then refuses, or name the mode's
  // option: said plainly instead.
  if (/exactly five, six, or seven|requires exactly 5 or 6 parts/.test(text)) return FIELD_COUNT;
  // croner names a day of month or a month by its own index, one less than written (13 as "month: 12"): the value written.
  // (`nearestWeekdays` is its name for a day of month written with W, as 15W.)
  const written = text
    .replace(/Invalid value for (month|day|nearestWeekdays): (-?\d+)/, (_, field: string, index: string) => {
      return `Invalid value for ${field === 'month' ? field : 'day of month'}: ${Number(index) + 1}`;
    })
    .replace(/^CronPattern: nearestWeekdays is not a number/, 'CronPattern: day of month is not a number')
    .replace(/\bdayOfWeek\b/, 'day of week');
  // croner prefixes its class name; the field is named by the path.
  const said = `is not a cron expression of 5 or 6 fields: ${written.replace(/^CronPattern: /, '')}`;
  return (fieldCount === 6 ? `${said} (${SIX_FIELDS})` : said).slice(0, 300);
}

/** The first tick strictly after `after`, in ms; null when there is none. The expression must have passed checkCron. */
export function nextTick(cron: string, timezone: string, after: number): number | null {
  const next = new Cron(cron, { ...CRON_OPTIONS, timezone, paused: true }).nextRun(new Date(after));
  return next === null ? null : next.getTime();
}

export interface Firing {
  /** The tick the operation is created for. */
  readonly tick: number;
  /** Missed ticks passed over before it (at most MAX_COUNTED_SKIPS). */
  readonly skipped: number;
  /** The schedule's next tick after this one (null: none). */
  readonly nextRunAt: number | null;
}

/**
 * What firing a schedule whose next tick is `due` does at `now`: null when it is not due yet. A tick at most
 * MISFIRE_THRESHOLD_MS late fires itself (one late tick never loses an operation); a later one is missed, and the most
 * recent tick at or before `now` fires instead, the ones between passed over.
 */
export function decideFiring(schedule: Pick<Schedule, 'cron' | 'timezone'>, due: number, now: number): Firing | null {
  if (due > now) return null;
  const { cron, timezone } = schedule;
  if (now - due <= MISFIRE_THRESHOLD_MS) return { tick: due, skipped: 0, nextRunAt: nextTick(cron, timezone, due) };
  const job = new Cron(cron, { ...CRON_OPTIONS, timezone, paused: true });
  let tick = due;
  let skipped = 0;
  for (;;) {
    const next = job.nextRun(new Date(tick))?.getTime() ?? null;
    if (next === null || next > now) return { tick, skipped, nextRunAt: next };
    if (skipped >= MAX_COUNTED_SKIPS) {
      // Too many to count: jump to the last tick at or before now, found from the other side.
      const last = job.previousRuns(1, new Date(now + 1))[0]?.getTime() ?? next;
      return { tick: last, skipped, nextRunAt: nextTick(cron, timezone, last) };
    }
    tick = next;
    skipped++;
  }
}

/** The first tick of a schedule created, or resumed, at `now`: ticks before that are not caught up. */
export function firstTick(schedule: Pick<Schedule, 'cron' | 'timezone'>, now: number): number | null {
  return nextTick(schedule.cron, schedule.timezone, now);
}
