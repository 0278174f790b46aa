// JSON request bodies are read by one rule on every route: UTF-8 only (any other declared charset is a 415 problem),
// and a leading byte-order mark is dropped, on POST /operations and on task collection routes alike.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assembleAsyncOps, type Assembly } from '../../src/main.ts';
import { charsetOf } from '../../src/http/json-body.ts';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const REPORT_INPUT = { type: 'sales_summary', date_range: '2026-01-01..2026-01-07' };
/** A body for each creating route, as the route takes it. */
const ROUTES: ReadonlyArray<readonly [string, unknown]> = [
  ['/operations', { type: 'report', input: REPORT_INPUT }],
  ['/reports', REPORT_INPUT],
  ['/reports/async', REPORT_INPUT],
];

let ops: Assembly;

before(async () => {
  // No workers: what is stored stays pending, and nothing runs behind the requests.
  ops = await assembleAsyncOps({ store: ':memory:', workers: false, logger: { level: 'silent' } });
  await ops.start();
});
after(async () => {
  await ops?.close();
});

const post = (url: string, contentType: string, payload: Buffer | string) =>
  ops.app!.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
const storedCount = async () => (await ops.app!.inject({ method: 'GET', url: '/operations?limit=200' })).json().items.length as number;

describe('the charset of a JSON body', () => {
  for (const contentType of [
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json; charset="UTF-16LE"',
    'application/json;charset=ISO-8859-1',
  ]) {
    it(`${contentType} is a 415 unsupported_media_type problem on every creating route, and nothing is stored`, async () => {
      const before = await storedCount();
      for (const [url, body] of ROUTES) {
        const reply = await post(url, contentType, JSON.stringify(body));
        assert.equal(reply.statusCode, 415, `${url}: ${reply.body}`);
        assert.match(reply.headers['content-type'] ?? '', /^application\/problem\+json/);
        const problem = reply.json();
        assert.equal(problem.code, 'unsupported_media_type');
        assert.equal(problem.status, 415);
        assert.match(problem.detail, /UTF-8/);
      }
      assert.equal(await storedCount(), before);
    });
  }

  for (const contentType of [
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'application/json; charset="utf-8"',
    'application/json; charset=utf8',
  ]) {
    it(`${contentType} is read as UTF-8`, async () => {
      for (const [url, body] of ROUTES) {
        const reply = await post(url, contentType, JSON.stringify(body));
        assert.equal(reply.statusCode, 202, `${url}: ${reply.body}`);
      }
    });
  }

  it('charsetOf reads the parameter whatever its case, spacing or quotes', () => {
    assert.equal(charsetOf(undefined), null);
    assert.equal(charsetOf('application/json'), null);
    assert.equal(charsetOf('application/json; Charset = "UTF-16"'), 'utf-16');
    assert.equal(charsetOf('application/json; foo=bar; charset=latin1'), 'latin1');
  });
});

describe('a leading UTF-8 byte-order mark', () => {
  it('is dropped on POST /operations and on the collection routes alike: the body is the JSON after it', async () => {
    for (const [url, body] of ROUTES) {
      const reply = await post(url, 'application/json', Buffer.concat([BOM, Buffer.from(JSON.stringify(body))]));
      assert.equal(reply.statusCode, 202, `${url}: ${reply.body}`);
      assert.equal(reply.json().input.date_range, REPORT_INPUT.date_range, url);
    }
  });

  it('is only dropped at the start: one inside the JSON text is still malformed JSON (400)', async () => {
    const reply = await post('/reports', 'application/json', Buffer.concat([Buffer.from('{"type":'), BOM, Buffer.from('"sales_summary"}')]));
    assert.equal(reply.statusCode, 400, reply.body);
    assert.equal(reply.json().code, 'validation_failed');
  });
});
