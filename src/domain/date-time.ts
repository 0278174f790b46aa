// Owns: reading an RFC 3339 date-time strictly (a `run_at`): every field in range, the day one its month has.
// Not here: what a time in the past means for a submit (runtime/operations.ts).
// Invariant: a string Date.parse would roll over (2026-02-30 → March 2) or read leniently is refused, never guessed at.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an RFC 3339 date-time, or null when it does not name a real instant. A fraction finer
 * than a millisecond is rounded up to the next one: every stored time is in whole milliseconds, so "at or after" and
 * "strictly before" the rounded time select what they would of the exact one, and a `run_at` is never run early.
 */
export function parseDateTime(text: string): number | null {
  const instant = instantOf(text);
  // An offset can carry year 9999 past its end (or year 0000 before its start) in UTC, where no RFC 3339 date-time
  // names it: stored, it would be written back as `+010000-…`.
  return instant !== null && instant >= FIRST_INSTANT && instant <= LAST_INSTANT ? instant : null;
}

/**
 * Why parseDateTime refuses a text, as a field error's message: not an RFC 3339 date-time of a real day, or one whose
 * instant (its offset applied, its fraction rounded up) is outside what a date-time written in UTC can name.
 */
export function dateTimeRefusal(text: string): string {
  const instant = instantOf(text);
  // A Date past year 9999 or before year 0000 writes itself so (toISOString: +010000-…), from an embedder or the SDK:
  // out of range when it is one such instant; any other text of that form (+002026-…) is of the wrong form.
  const expanded = /^[+-]\d{6}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/.test(text) ? Date.parse(text) : Number.NaN;
  const outOfRange = Number.isFinite(expanded) && (expanded < FIRST_INSTANT || expanded > LAST_INSTANT);
  if (instant === null && !outOfRange) return 'must be an RFC 3339 date-time';
  return 'is outside the instants a date-time can name (0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, its offset applied)';
}

/** The instant an RFC 3339 date-time of a real day names, in any range; null when it is no such date-time. */
function instantOf(text: string): number | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  // 60 is a leap second, which RFC 3339 allows; it is read as the last moment of its minute.
  if (hour > 23 || minute > 59 || second > 60) return null;
  if (m[8] !== 'Z' && m[8] !== 'z' && (Number(m[10]) > 23 || Number(m[11]) > 59)) return null;
  const utc = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${second === 60 ? '59' : m[6]}${(m[7] ?? '').slice(0, 4)}${m[8]!.toUpperCase()}`);
  const finerThanMs = /[1-9]/.test((m[7] ?? '').slice(4)) ? 1 : 0;
  const instant = utc + finerThanMs;
  return Number.isFinite(instant) ? instant : null;
}

/** 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants a date-time written in UTC can name. */
const FIRST_INSTANT = -62_167_219_200_000;
const LAST_INSTANT = 253_402_300_799_999;

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}
