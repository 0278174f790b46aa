// Cron parsing and checking, the next tick (seconds, time zones, DST) and the missed-tick policy, on fixed instants.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCron, decideFiring, firstTick, MAX_COUNTED_SKIPS, MISFIRE_THRESHOLD_MS, nextTick } from '../../src/domain/schedule.ts';

const at = (text: string) => Date.parse(text);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('checkCron', () => {
  it('accepts five fields, six with seconds, and IANA zones', () => {
    assert.deepEqual(checkCron('*/5 * * * *', 'UTC'), []);
    assert.deepEqual(checkCron('*/10 * * * * *', 'Europe/Berlin'), []);
    assert.deepEqual(checkCron('0 9 * * MON-FRI', 'America/New_York'), []);
  });

  it('names the field of each problem', () => {
    assert.deepEqual(
      checkCron('every minute', 'UTC').map((e) => e.path),
      ['/cron'],
    );
    assert.deepEqual(
      checkCron('* * * * *', 'Mars/Olympus').map((e) => e.path),
      ['/timezone'],
    );
    assert.deepEqual(
      checkCron('61 * * * *', 'Nowhere').map((e) => e.path),
      ['/timezone', '/cron'],
    );
    // Seven fields (years) are not part of the contract.
    assert.deepEqual(
      checkCron('* * * * * * 2030', 'UTC').map((e) => e.path),
      ['/cron'],
    );
  });

  it("names the value written of a day of month or a month out of range, not croner's index one less", () => {
    const message = (cron: string) => checkCron(cron, 'UTC')[0]?.message;
    assert.equal(message('0 0 1 13 *'), 'is not a cron expression of 5 or 6 fields: Invalid value for month: 13');
    assert.equal(message('0 0 1 0 *'), 'is not a cron expression of 5 or 6 fields: Invalid value for month: 0');
    assert.equal(message('0 0 1 1-13 *'), 'is not a cron expression of 5 or 6 fields: Invalid value for month: 13');
    assert.equal(message('0 0 32 * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for day of month: 32');
    assert.equal(message('0 0 0 * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for day of month: 0');
    assert.equal(message('0 0 1,32 * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for day of month: 32');
    assert.equal(message('0 0 32W * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for day of month: 32', 'the nearest weekday to it');
    assert.equal(message('0 0 0W * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for day of month: 0');
    assert.equal(message('0 0 W * *'), "is not a cron expression of 5 or 6 fields: day of month is not a number: 'W'");
    assert.equal(message('60 * * * *'), 'is not a cron expression of 5 or 6 fields: Invalid value for minute: 60', 'other fields as croner says');
  });

  it('takes the nicknames (@daily, @hourly, …) as croner does, but not a date and time, which croner fires once', () => {
    for (const cron of ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@DAILY'])
      assert.deepEqual(checkCron(cron, 'UTC'), [], cron);
    assert.equal(nextTick('@daily', 'Europe/Berlin', Date.parse('2026-12-07T12:00:00Z')), Date.parse('2026-12-07T23:00:00Z'));
    assert.deepEqual(
      checkCron('@reboot', 'UTC').map((e) => e.path),
      ['/cron'],
    );
  });

  it('says how many fields it takes when the count is wrong, without offering seven', () => {
    for (const cron of [
      '   ',
      'daily',
      '* * * *',
      '0 0 0 1 1 * 2027 x',
      '0 0 12 1 1 * 2027',
      '2030-02-30T00:00:00Z',
      '2030-01-01T00:00:00',
      '2030-01-01 00:00',
    ]) {
      assert.deepEqual(checkCron(cron, 'UTC'), [{ path: '/cron', message: 'is not a cron expression: it takes 5 fields, or 6 with seconds first' }], cron);
    }
  });

  it('refuses an expression no date matches, which would never fire, and takes fixed UTC offsets as zones', () => {
    for (const never of ['0 0 30 2 *', '0 0 31 4 *', '0 0 0 31 11 *'])
      assert.deepEqual(checkCron(never, 'UTC'), [{ path: '/cron', message: 'never fires: no date matches it' }], never);
    assert.deepEqual(checkCron('0 0 29 2 *', 'UTC'), [], 'the 29th of February comes every four years');
    assert.deepEqual(checkCron('0 9 * * *', '+05:30'), []);
  });

  it("refuses an interval whose every match falls in the zone's daylight-saving gap; a fixed time there moves, and is taken", () => {
    for (const [cron, zone] of [
      ['*/30 2 * 3 0L', 'Europe/Berlin'],
      ['*/10 2 * 3 0#2', 'America/New_York'],
    ] as const) {
      assert.deepEqual(checkCron(cron, zone), [
        { path: '/cron', message: `never fires in ${zone}: every time it matches falls in a daylight-saving gap there` },
      ]);
      assert.deepEqual(checkCron(cron, 'UTC'), [], 'in a zone without the gap it fires');
    }
    assert.deepEqual(checkCron('0-59 2 * 3 0L', 'Europe/Berlin'), [], 'a fixed time in the gap runs at 03:00');
    assert.deepEqual(checkCron('30 2 * 3 0L', 'Europe/Berlin'), []);
    // Every second of the gap: croner's own search in the zone took a minute and more of a blocked event loop.
    assert.equal(
      checkCron('* * 2 * 3 0L', 'Europe/Berlin')[0]?.message,
      'never fires in Europe/Berlin: every time it matches falls in a daylight-saving gap there',
    );
    // Lord Howe's gap is half an hour (02:00 to 02:30 on the first Sunday of October): the rest of the hour exists.
    assert.deepEqual(checkCron('* 2 * 10 0#1', 'Australia/Lord_Howe'), []);
    // Pacific/Chatham's gap runs 02:45 to 03:45 on the last Sunday of September: 03:45 to 03:59 exist.
    assert.deepEqual(checkCron('* 3 * 9 0L', 'Pacific/Chatham'), []);
  });

  it("reads an expression on the UTC clock or the schedule's zone, never the host's (TZ)", () => {
    const hostZone = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
    try {
      assert.deepEqual(checkCron('*/30 2 * 3 0L', 'UTC'), []);
      assert.deepEqual(checkCron('*/30 2 * 3 0L', '+00:00'), []);
      assert.equal(
        checkCron('*/30 2 * 3 0L', 'Europe/Berlin')[0]?.message,
        'never fires in Europe/Berlin: every time it matches falls in a daylight-saving gap there',
      );
    } finally {
      if (hostZone === undefined) delete process.env.TZ;
      else process.env.TZ = hostZone;
    }
  });

  it('says what six fields are when one of them is out of range (a year written last is read as the day of week)', () => {
    assert.equal(
      checkCron('0 12 1 1 * 2027', 'UTC')[0]?.message,
      'is not a cron expression of 5 or 6 fields: Invalid value for day of week: 2027 (6 fields are second, minute, hour, day of month, month and day of week)',
    );
  });
});

describe('nextTick', () => {
  it('is strictly after the time given, to the second', () => {
    assert.equal(iso(nextTick('* * * * * *', 'UTC', at('2026-01-01T00:00:00.000Z'))), '2026-01-01T00:00:01.000Z');
    assert.equal(iso(nextTick('* * * * * *', 'UTC', at('2026-01-01T00:00:00.400Z'))), '2026-01-01T00:00:01.000Z');
    assert.equal(iso(nextTick('*/15 * * * *', 'UTC', at('2026-01-01T00:15:00.000Z'))), '2026-01-01T00:30:00.000Z');
  });

  it('reads the expression in its time zone', () => {
    assert.equal(iso(nextTick('0 9 * * *', 'Europe/Berlin', at('2026-01-10T00:00:00Z'))), '2026-01-10T08:00:00.000Z');
    assert.equal(iso(nextTick('0 9 * * *', 'Europe/Berlin', at('2026-07-10T00:00:00Z'))), '2026-07-10T07:00:00.000Z');
  });

  it('runs a fixed time in the spring-forward gap once, just after the gap', () => {
    // 29 March 2026: Berlin's clocks go from 02:00 to 03:00; 02:30 does not exist that day.
    const ticks = [at('2026-03-28T00:00:00Z')];
    for (let i = 0; i < 3; i++) ticks.push(nextTick('30 2 * * *', 'Europe/Berlin', ticks.at(-1)!)!);
    assert.deepEqual(ticks.slice(1).map(iso), ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
  });

  it('runs a fixed time in the fall-back overlap once', () => {
    // 25 October 2026: 02:00–03:00 happens twice in Berlin; 02:30 fires at its first occurrence only.
    const ticks = [at('2026-10-24T00:00:00Z')];
    for (let i = 0; i < 3; i++) ticks.push(nextTick('30 2 * * *', 'Europe/Berlin', ticks.at(-1)!)!);
    assert.deepEqual(ticks.slice(1).map(iso), ['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('runs the fixed times of a list or range once across a change of the clocks, as it does a single time', () => {
    const ticksFrom = (cron: string, zone: string, from: string, n: number) => {
      const ticks = [at(from)];
      for (let i = 0; i < n; i++) ticks.push(nextTick(cron, zone, ticks.at(-1)!)!);
      return ticks.slice(1).map(iso);
    };
    // New York, 7 November 2027: 01:00–02:00 happens twice; 01:30 fires at its first occurrence only.
    assert.deepEqual(ticksFrom('30 1,13 * * *', 'America/New_York', '2027-11-07T00:00:00Z', 3), [
      '2027-11-07T05:30:00.000Z',
      '2027-11-07T18:30:00.000Z',
      '2027-11-08T06:30:00.000Z',
    ]);
    // New York, 14 March 2027: 02:00–03:00 does not exist; 02:30 runs at 03:00.
    assert.deepEqual(ticksFrom('30 2,14 * * *', 'America/New_York', '2027-03-14T00:00:00Z', 2), ['2027-03-14T07:00:00.000Z', '2027-03-14T18:30:00.000Z']);
    // Berlin, 28 March and 31 October 2027, a list of minutes in the hour that is missing, then doubled.
    assert.deepEqual(ticksFrom('0,30 2 * * *', 'Europe/Berlin', '2027-03-27T12:00:00Z', 2), ['2027-03-28T01:00:00.000Z', '2027-03-29T00:00:00.000Z']);
    assert.deepEqual(ticksFrom('0,30 2 1-5,31 * *', 'Europe/Berlin', '2027-10-30T12:00:00Z', 3), [
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T00:30:00.000Z',
      '2027-11-01T01:00:00.000Z',
    ]);
    // An interval (a wildcard or a step) still ticks in both occurrences of the doubled hour.
    assert.deepEqual(ticksFrom('*/30 2 * * *', 'Europe/Berlin', '2027-10-30T12:00:00Z', 4), [
      '2027-10-31T00:00:00.000Z',
      '2027-10-31T00:30:00.000Z',
      '2027-10-31T01:00:00.000Z',
      '2027-10-31T01:30:00.000Z',
    ]);
  });

  it('is null when the expression matches no later time', () => {
    assert.equal(nextTick('0 0 30 2 *', 'UTC', at('2026-01-01T00:00:00Z')), null);
  });
});

describe('decideFiring: the missed-tick policy', () => {
  const everyMinute = { cron: '* * * * *', timezone: 'UTC' };
  const due = at('2026-01-01T10:00:00Z');

  it('is not due before its tick', () => {
    assert.equal(decideFiring(everyMinute, due, due - 1), null);
  });

  it('fires a tick on time, or late within the threshold, as itself', () => {
    assert.deepEqual(decideFiring(everyMinute, due, due), { tick: due, skipped: 0, nextRunAt: due + 60_000 });
    // Late, and the next tick has come too: this one still fires; the next is fired by the next call.
    assert.deepEqual(decideFiring(everyMinute, due, due + MISFIRE_THRESHOLD_MS), { tick: due, skipped: 0, nextRunAt: due + 60_000 });
  });

  it('after downtime fires one catch-up for the most recent tick and counts the ones passed over', () => {
    const now = at('2026-01-01T10:10:30Z');
    assert.deepEqual(decideFiring(everyMinute, due, now), { tick: at('2026-01-01T10:10:00Z'), skipped: 10, nextRunAt: at('2026-01-01T10:11:00Z') });
  });

  it('stays cheap after a very long outage', () => {
    const everySecond = { cron: '* * * * * *', timezone: 'UTC' };
    const now = due + 30 * 24 * 3600 * 1000 + 500;
    const firing = decideFiring(everySecond, due, now)!;
    assert.equal(firing.tick, now - 500);
    assert.equal(firing.skipped, MAX_COUNTED_SKIPS);
    assert.equal(firing.nextRunAt, now + 500);
  });

  it('starts a new or resumed schedule at the first tick after now', () => {
    assert.equal(iso(firstTick(everyMinute, at('2026-01-01T10:00:00Z'))), '2026-01-01T10:01:00.000Z');
  });
});
