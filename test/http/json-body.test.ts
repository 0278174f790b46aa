// JSON request bodies are read by one rule on every route: UTF-8 only (any other declared charset is a 415 problem),
// and a leading byte-order mark is dropped, on POST /operations and on task collection routes alike.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assembleAsyncOps, type Assembly } from '../../src/main.ts';
import { charsetOf } from '../../src/http/json-body.ts';
import { nonFinitePath } from '../../src/domain/json-values.ts';

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

describe('bytes that are not UTF-8', () => {
  for (const [what, bytes] of [
    ['a Latin-1 é', Buffer.from([0xe9])],
    ['a lone continuation byte', Buffer.from([0x80])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['a truncated sequence', Buffer.from([0xe2, 0x82])],
  ] as const) {
    it(`${what} in a string is a 400 validation_failed on every creating route, and nothing is stored`, async () => {
      const before = await storedCount();
      for (const [url, body] of ROUTES) {
        const [head, tail] = JSON.stringify(body).split('"sales_summary"');
        const payload = Buffer.concat([Buffer.from(`${head}"sales_summary",`), Buffer.from('"note":"'), bytes, Buffer.from(`"${tail}`)]);
        const reply = await post(url, 'application/json', payload);
        assert.equal(reply.statusCode, 400, `${url}: ${reply.body}`);
        assert.match(reply.headers['content-type'] ?? '', /^application\/problem\+json/);
        assert.equal(reply.json().code, 'validation_failed');
        assert.match(reply.json().detail, /UTF-8/);
      }
      assert.equal(await storedCount(), before);
    });
  }
});

describe('a number too large for a double', () => {
  it('is a 400 naming where it is (1e400 parses as Infinity, which JSON cannot store), and nothing is stored', async () => {
    const before = await storedCount();
    for (const [raw, path] of [
      ['{"type":"report","input":{"type":"sales_summary","date_range":"2026-01-01..2026-01-07","n":1e400}}', '/input/n'],
      ['{"type":"report","input":{"type":"sales_summary","date_range":"2026-01-01..2026-01-07","a":[1,{"b/c":-1E+309}]}}', '/input/a/1/b~1c'],
      [`{"type":"report","priority":${'9'.repeat(400)},"input":{}}`, '/priority'],
    ] as const) {
      const reply = await post('/operations', 'application/json', raw);
      assert.equal(reply.statusCode, 400, reply.body);
      assert.equal(reply.json().code, 'validation_failed');
      assert.deepEqual(reply.json().errors, [{ path, message: 'is a number too large to represent' }]);
    }
    assert.equal(await storedCount(), before);
  });

  it('leaves what only looks like one alone: a string holding e400, and the largest finite double', async () => {
    const input = { ...REPORT_INPUT, format: 'json' };
    const reply = await post('/operations', 'application/json', JSON.stringify({ type: 'report', input, idempotency: 'e400 1e400' }));
    assert.equal(reply.statusCode, 400, 'an unknown field, but not a number');
    assert.deepEqual(reply.json().errors, [{ path: '/idempotency', message: 'must NOT have additional properties' }]);
    assert.equal(nonFinitePath({ a: [1, 'x', { b: 1.7976931348623157e308, c: 'e400' }] }), null);
    assert.equal(nonFinitePath({ a: [1, { b: Number.NEGATIVE_INFINITY }] }), '/a/1/b');
    assert.equal(nonFinitePath(Number.POSITIVE_INFINITY), '/');
  });
});

describe('a body in a content-encoding', () => {
  for (const encoding of ['gzip', 'br', 'deflate, gzip']) {
    it(`${encoding} is a 415 naming it, on every creating route, and nothing is stored (it would be read as other bytes)`, async () => {
      const before = await storedCount();
      for (const [url, body] of ROUTES) {
        const reply = await ops.app!.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json', 'content-encoding': encoding },
          payload: JSON.stringify(body),
        });
        assert.equal(reply.statusCode, 415, `${url}: ${reply.body}`);
        assert.equal(reply.json().code, 'unsupported_media_type');
        assert.match(reply.json().detail, new RegExp(`content-encoding ${encoding}`));
      }
      assert.equal(await storedCount(), before);
    });
  }

  it('identity is no encoding', async () => {
    const reply = await ops.app!.inject({
      method: 'POST',
      url: '/reports',
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      payload: JSON.stringify(REPORT_INPUT),
    });
    assert.equal(reply.statusCode, 202, reply.body);
  });
});

describe('what the JSON parser refuses besides malformed text', () => {
  it('a __proto__ or constructor.prototype key is a 400 that says so, not "not valid JSON"', async () => {
    for (const raw of ['{"type":"report","__proto__":{"admin":true},"input":{}}', '{"type":"report","input":{"constructor":{"prototype":{"x":1}}}}']) {
      const reply = await post('/operations', 'application/json', raw);
      assert.equal(reply.statusCode, 400, reply.body);
      assert.match(reply.json().detail, /__proto__ or constructor\.prototype/);
    }
    const malformed = await post('/operations', 'application/json', '{"type":');
    assert.equal(malformed.statusCode, 400);
    assert.doesNotMatch(malformed.json().detail, /__proto__/);
  });

  it('an empty body with the JSON content type is no body: a cancel takes it, a submit refuses it by its schema', async () => {
    const created = await post('/reports', 'application/json', JSON.stringify(REPORT_INPUT));
    assert.equal(created.statusCode, 202);
    const cancelled = await post(`/operations/${created.json().id}/cancel`, 'application/json', '');
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal(cancelled.json().status, 'cancelled');
    const retried = await post(`/operations/${created.json().id}/retry`, 'application/json', '');
    assert.equal(retried.statusCode, 202, retried.body);
    const empty = await post('/operations', 'application/json', '');
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().code, 'validation_failed');
  });
});
