import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dateTimeRefusal, parseDateTime } from '../../src/domain/date-time.ts';

describe('parseDateTime', () => {
  it('reads RFC 3339 date-times, with offsets, fractions and a leap second', () => {
    assert.equal(parseDateTime('2026-03-01T09:00:00Z'), Date.UTC(2026, 2, 1, 9));
    assert.equal(parseDateTime('2026-03-01t09:00:00.250z'), Date.UTC(2026, 2, 1, 9, 0, 0, 250));
    assert.equal(parseDateTime('2026-03-01T10:30:00+01:30'), Date.UTC(2026, 2, 1, 9));
    assert.equal(parseDateTime('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseDateTime('2016-12-31T23:59:60Z'), Date.UTC(2016, 11, 31, 23, 59, 59));
    assert.equal(parseDateTime('0000-01-01T00:00:00Z'), Date.parse('0000-01-01T00:00:00Z'), 'a real time, if long past');
  });

  it('rounds a fraction finer than a millisecond up to the next one, so no bound lets in a time before it', () => {
    const at = Date.UTC(2026, 11, 7, 4, 55, 46, 570);
    assert.equal(parseDateTime('2026-12-07T04:55:46.570999Z'), at + 1);
    assert.equal(parseDateTime('2026-12-07T04:55:46.5700001Z'), at + 1);
    assert.equal(parseDateTime('2026-12-07T04:55:46.570000000Z'), at, 'zeros past the millisecond are the millisecond');
    assert.equal(parseDateTime('2026-12-07T04:55:46.57Z'), at);
    assert.equal(parseDateTime('2026-12-07T04:55:46.9999Z'), at - 570 + 1000, 'into the next second');
  });

  it('reads the first and the last instant a date-time in UTC can name, and renders each as it was written', () => {
    for (const text of ['0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999+00:00', '0000-01-01T00:59:00-00:01']) {
      const instant = parseDateTime(text);
      assert.notEqual(instant, null, text);
      assert.match(new Date(instant!).toISOString(), /^\d{4}-/, text);
    }
  });

  it('refuses what is not a real instant, where Date.parse would roll over or guess', () => {
    for (const text of [
      '2026-02-30T00:00:00Z',
      '2025-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-01-01T10:00:00+24:00',
      // Real instants, but past what a date-time in UTC can write: the reply would say +010000-… or -000001-…
      '9999-12-31T23:59:59-00:01',
      '9999-12-31T23:59:59.9999Z',
      '0000-01-01T00:00:00+00:01',
      '2026-01-01T10:00:00',
      '2026-01-01',
      'tomorrow',
      '',
    ]) {
      assert.equal(parseDateTime(text), null, text);
    }
  });

  it('says why it refuses one: its form, or an instant past what a date-time can name', () => {
    const pastTheEnd = new Date(253_402_300_800_000).toISOString();
    const beforeTheStart = new Date(-62_167_219_200_001).toISOString();
    for (const text of ['9999-12-31T23:59:59-00:01', '9999-12-31T23:59:59.9999Z', '0000-01-01T00:00:00+00:01', pastTheEnd, beforeTheStart]) {
      assert.match(dateTimeRefusal(text), /^is outside the instants a date-time can name/, text);
    }
    for (const text of ['2026-02-30T00:00:00Z', '2026-01-01', 'tomorrow', '+002026-01-01T00:00:00.000Z', '+000000-13-45Tgarbage']) {
      assert.equal(dateTimeRefusal(text), 'must be an RFC 3339 date-time', text);
    }
  });
});
