// The real CLI as a subprocess against a fake of the HTTP API: output formats, exit statuses, progress rendering
// (plain lines off a TTY, the bar with its ETA under a pseudo-terminal) and the `listen` webhook receiver.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signWebhook } from '../../src/client/index.ts';
import { MAX_ATTEMPTS, PRIORITY } from '../../src/config/limits.ts';
import { closedPort, FakeApi, sampleDelivery, startHtmlServer, type FakeStage } from '../client/fake-api.ts';
import { CLI, CONTROL_CHARS, killAll, runCli, runShell, startCli, waitForStderr } from './run-cli.ts';

const QUICK: FakeStage[] = [
  { atMs: 0, status: 'pending', etaS: 2 },
  { atMs: 200, status: 'processing', progress: 0.1, message: 'reading', etaS: 1.5 },
  { atMs: 900, status: 'processing', progress: 0.6, message: 'aggregating rows', etaS: 0.6 },
  { atMs: 1600, status: 'completed', progress: 1 },
];
const ended = (status: 'failed' | 'cancelled', code: string): FakeStage[] => [
  { atMs: 0, status: 'processing', progress: 0.2 },
  { atMs: 300, status, error: { code, message: `${code} happened` } },
];

let api: FakeApi;
let url: string;
const tmp = mkdtempSync(join(tmpdir(), 'asyncops-cli-'));

before(async () => {
  api = await new FakeApi({ stages: QUICK, apiKey: 'secret-key' }).start();
  url = api.url;
});
after(async () => {
  await killAll();
  await api.close();
  rmSync(tmp, { recursive: true, force: true });
});

const withAuth = (...args: string[]) => ['--url', url, '--api-key', 'secret-key', ...args];

function assertOneErrorLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `one line on stderr, got ${JSON.stringify(stderr)}`);
  assert.match(lines[0]!, /^asyncops: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('reads', () => {
  test('status --json prints the resource as JSON; plain status is one line', async () => {
    const op = api.addOperation('report', {});
    const json = await runCli(withAuth('status', op.id, '--json'));
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).id, op.id);
    const plain = await runCli(withAuth('status', op.id));
    assert.equal(plain.code, 0);
    assert.match(plain.stdout, new RegExp(`^${op.id}  report  \\w+`));
    assert.equal(plain.stdout.trim().split('\n').length, 1);
  });

  test('the URL and API key come from ASYNCOPS_URL and ASYNCOPS_API_KEY', async () => {
    const op = api.addOperation('report', {});
    const run = await runCli(['status', op.id, '--json'], { env: { ASYNCOPS_URL: url, ASYNCOPS_API_KEY: 'secret-key' } });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout).id, op.id);
  });

  test('list --json and deliveries --dead / retry / --operation', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.deliveries.push(sampleDelivery(op.id, 'dlv_cli', 'dead'));
    const list = await runCli(withAuth('list', '--json', '--limit', '100'));
    assert.equal(list.code, 0, list.stderr);
    assert.ok(JSON.parse(list.stdout).items.some((o: { id: string }) => o.id === op.id));

    const dead = await runCli(withAuth('deliveries', '--dead', '--json'));
    assert.equal(dead.code, 0, dead.stderr);
    assert.deepEqual(
      JSON.parse(dead.stdout).items.map((d: { id: string }) => d.id),
      ['dlv_cli'],
    );
    assert.match(api.requests.at(-1)!.headers['user-agent'] ?? '', /asyncops-cli/);

    const retry = await runCli(withAuth('deliveries', 'retry', 'dlv_cli'));
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /^dlv_cli {2}pending {2}operation\.completed/);
    for (const args of [
      ['deliveries', 'retry', 'dlv_cli', '--json'],
      ['deliveries', 'retry', '--json', 'dlv_cli'],
    ]) {
      const json = await runCli(withAuth(...args));
      assert.equal(json.code, 0, json.stderr);
      assert.equal(JSON.parse(json.stdout).id, 'dlv_cli', args.join(' '));
    }

    const attempts = await runCli(withAuth('deliveries', '--operation', op.id));
    assert.equal(attempts.code, 0, attempts.stderr);
    assert.match(attempts.stdout, /#2 scheduled .* ECONNREFUSED/);
  });

  test('an id of "." or ".." is a usage error (exit 2) sent nowhere, not a request to the path a URL resolves it to', async () => {
    const sent = api.requests.length;
    for (const args of [
      ['status', '..'],
      ['cancel', '.'],
      ['deliveries', 'retry', '..'],
      ['deliveries', '--operation', '..'],
      ['schedules', 'get', '.'],
      ['bulk', 'get', '..'],
    ]) {
      const run = await runCli(withAuth(...args));
      assert.equal(run.code, 2, args.join(' '));
      assertOneErrorLine(run.stderr, /is not an id/);
    }
    assert.equal(api.requests.length, sent);
  });

  test("--limit of list and deliveries is 1..200, the API's cap: 200 is accepted, 500 a usage error sent nowhere", async () => {
    for (const command of ['list', 'deliveries']) {
      const most = await runCli(withAuth(command, '--limit', '200', '--json'));
      assert.equal(most.code, 0, most.stderr);
      const sent = api.requests.length;
      const over = await runCli(withAuth(command, '--limit', '500'));
      assert.equal(over.code, 2, over.stderr);
      assertOneErrorLine(over.stderr, /--limit.*from 1 to 200/);
      assert.equal(api.requests.length, sent);
    }
  });

  test('result writes the bytes to -o FILE', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    const file = join(tmp, 'result.json');
    const run = await runCli(withAuth('result', op.id, '-o', file));
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { total: 42 });
  });

  test('result --json: a JSON body parsed, text as text (JSON that is not one value too), other bytes as body_base64', async () => {
    const cases: Array<[string, string | Uint8Array, Record<string, unknown>]> = [
      ['application/json', '{"total":42}', { body: { total: 42 } }],
      ['application/json-seq', '\u001e{"a":1}\n\u001e{"a":2}\n', { body: '\u001e{"a":1}\n\u001e{"a":2}\n' }],
      ['application/json', '', { body: '' }],
      ['text/csv', '\ufeffid,name\n', { body: '\ufeffid,name\n' }],
      ['text/csv', 'a,b\n1,2\n', { body: 'a,b\n1,2\n' }],
      ['application/octet-stream', new Uint8Array([0, 1, 2, 255, 254, 10, 13]), { body_base64: 'AAEC//4KDQ==' }],
      // What a parse would change (a 20-digit id, a number past a double) is given as the text it is.
      ['application/json', '{"id":12345678901234567890,"x":1e400}', { body: '{"id":12345678901234567890,"x":1e400}' }],
      ['application/json', '{"x":123456789.123456789}', { body: '{"x":123456789.123456789}' }],
      ['application/json', '[-0,1e-400]', { body: '[-0,1e-400]' }],
      ['application/json', '{"ok":[1,2.5,-3,1e+21]}', { body: { ok: [1, 2.5, -3, 1e21] } }],
      // Typed JSON, but holding a byte that is not UTF-8: parsed, it would carry U+FFFD in its place.
      ['application/json', new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x78, 0xff, 0x7a, 0x22, 0x7d]), { body_base64: 'eyJhIjoieP96In0=' }],
      ['application/json', '﻿{"bom":true}', { body: { bom: true } }],
      // Two are one too many: not one JSON text, so text.
      ['application/json', `${BOM}${BOM}{"bom":2}`, { body: `${BOM}${BOM}{"bom":2}` }],
    ];
    for (const [contentType, body, expected] of cases) {
      const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
      api.operations.get(op.id)!.result = { contentType, body };
      const run = await runCli(withAuth('result', op.id, '--json'));
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout), { content_type: contentType, ...expected }, contentType);
    }
  });
});

/** A byte-order mark, written out: a formatter keeps an escape here. */
const BOM = String.fromCharCode(0xfeff);

describe('errors and exit statuses', () => {
  test('output that cannot be written (stdout on a full disk) is one line and exit 2, not a stack trace', {
    skip: !existsSync('/dev/full') && 'no /dev/full here',
  }, async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    const command = [process.execPath, CLI, ...withAuth('status', op.id, '--json')].map((a) => `'${a}'`).join(' ');
    const run = await runShell(`${command} > /dev/full`);
    assert.equal(run.code, 2, run.stderr);
    assertOneErrorLine(run.stderr, /^asyncops: cannot write to standard output: ENOSPC/);
    // Diagnostics that cannot be written are lost, and the command goes on: its output and status are what they were.
    api.operations.get(op.id)!.result = { contentType: 'application/json', body: '{"total":3}' };
    const file = join(tmp, 'result-quiet.json');
    const saving = [process.execPath, CLI, ...withAuth('result', op.id, '-o', file)].map((a) => `'${a}'`).join(' ');
    const quiet = await runShell(`${saving} 2> /dev/full`);
    assert.equal(quiet.code, 0, 'its "saved … bytes" note lost');
    assert.equal(readFileSync(file, 'utf8'), '{"total":3}');
  });

  test('result --json -o FILE writes the JSON form to FILE', async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    api.operations.get(op.id)!.result = { contentType: 'application/json', body: '{"total":3}' };
    const file = join(tmp, 'result-json.json');
    const run = await runCli(withAuth('result', op.id, '--json', '-o', file));
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { content_type: 'application/json', body: { total: 3 } });
  });

  test('deliveries --operation takes no page or state filter: exit 2, nothing sent', async () => {
    const sent = api.requests.length;
    for (const extra of [['--dead'], ['--state', 'retrying'], ['--limit', '1'], ['--cursor', 'c']]) {
      const run = await runCli(withAuth('deliveries', '--operation', 'op_1', ...extra));
      assert.equal(run.code, 2, extra.join(' '));
      assertOneErrorLine(run.stderr, new RegExp(`^asyncops: --operation lists every delivery of one operation: it takes no ${extra[0]}$`));
    }
    assert.equal(api.requests.length, sent);
  });

  test('list --all --cursor C follows every page from C', async () => {
    for (let i = 0; i < 4; i++) api.addOperation('report', {});
    const every = JSON.parse((await runCli(withAuth('list', '--all', '--limit', '1', '--json'))).stdout).items.map((o: { id: string }) => o.id);
    const first = JSON.parse((await runCli(withAuth('list', '--limit', '2', '--json'))).stdout);
    const rest = await runCli(withAuth('list', '--all', '--limit', '1', '--cursor', first.next_cursor, '--json'));
    assert.equal(rest.code, 0, rest.stderr);
    assert.deepEqual(
      JSON.parse(rest.stdout).items.map((o: { id: string }) => o.id),
      every.slice(2),
    );
  });

  test('a --url with a query or fragment is a usage error (exit 2): every path would land in it', async () => {
    const sent = api.requests.length;
    for (const bad of [`${url}?x=1`, `${url}/#frag`, `${url}?`]) {
      const run = await runCli(['--url', bad, 'status', 'op_1']);
      assert.equal(run.code, 2, bad);
      assertOneErrorLine(run.stderr, /^asyncops: --url: the server URL must not include a query or fragment/);
    }
    assert.equal(api.requests.length, sent);
  });

  test('an unreachable server exits 5 with one line and no stack trace', async () => {
    const run = await runCli(['--url', `http://127.0.0.1:${await closedPort()}`, 'status', 'op_1']);
    assert.equal(run.code, 5);
    assertOneErrorLine(run.stderr, /cannot reach/);
  });

  test('a --url that answers HTML, not the API, exits 5 with one line saying so', async () => {
    const page = await startHtmlServer();
    try {
      const runs = await Promise.all(
        [
          ['status', 'op_1'],
          ['submit', 'report', '--input', '{}'],
          ['submit', 'report', '--input', '{}', '--wait'],
        ].map((args) => runCli(['--url', page.url, ...args])),
      );
      for (const run of runs) {
        assert.equal(run.code, 5, run.stderr);
        assertOneErrorLine(
          run.stderr,
          new RegExp(`^asyncops: the server at ${page.url} did not answer as an asyncops API: HTTP 200, content-type text/html; charset=utf-8$`),
        );
      }
    } finally {
      await page.close();
    }
  });

  test('a --url that answers an HTML 404 (a static file server) exits 5 with one short line: status and content type, not the page', async () => {
    const page = await startHtmlServer(404);
    try {
      const runs = await Promise.all(
        [
          ['status', 'op_x'],
          ['cancel', 'op_x'],
          ['submit', 'report', '--input', '{}'],
        ].map((args) => runCli(['--url', page.url, ...args])),
      );
      for (const run of runs) {
        assert.equal(run.code, 5, run.stderr);
        assertOneErrorLine(
          run.stderr,
          new RegExp(`^asyncops: the server at ${page.url} did not answer as an asyncops API: HTTP 404, content-type text/html; charset=utf-8$`),
        );
        assert.doesNotMatch(run.stderr, /<|html>/i);
      }
    } finally {
      await page.close();
    }
  });

  test('a --url with user:password@ is a usage error (exit 2) that does not repeat the password; nothing is sent', async () => {
    const sent = api.requests.length;
    const run = await runCli(['--url', url.replace('http://', 'http://user:s3cret-pw@'), 'status', 'op_1']);
    assert.equal(run.code, 2);
    assertOneErrorLine(run.stderr, /^asyncops: --url: the server URL must not include a user name or password/);
    assert.doesNotMatch(run.stdout + run.stderr, /s3cret-pw/);
    assert.equal(api.requests.length, sent);
  });

  test('usage errors exit 2 with one line', async () => {
    const unknown = await runCli(['status', 'op_1', '--bogus']);
    assert.equal(unknown.code, 2);
    assertOneErrorLine(unknown.stderr, /unknown option '--bogus'/);

    // A command that runs on its own and has subcommands: a word naming none of them is an unknown command.
    for (const [parent, known] of [
      ['schedules', 'list, create, get, pause, resume, delete'],
      ['deliveries', 'retry'],
    ]) {
      const sub = await runCli([parent!, 'bogus'], { env: { ASYNCOPS_URL: `http://127.0.0.1:${await closedPort()}` } });
      assert.equal(sub.code, 2, sub.stderr);
      assertOneErrorLine(sub.stderr, new RegExp(`^asyncops: unknown command 'bogus' for '${parent}' \\(its commands: ${known}\\)$`));
    }

    const helpOfNone = await runCli(['help', 'nosuch']);
    assert.equal(helpOfNone.code, 2);
    assertOneErrorLine(helpOfNone.stderr, /^asyncops: unknown command 'nosuch' \(its commands: submit, status, wait, /);
    assert.equal(helpOfNone.stdout, '');

    const missing = await runCli(['submit', 'report']);
    assert.equal(missing.code, 2);
    assertOneErrorLine(missing.stderr, /^asyncops: required option '--input <json>' not specified$/);

    // A mistyped option is the likelier mistake, and it explains the missing --input too.
    const unknownFirst = await runCli(['submit', 'report', '--bogus']);
    assert.equal(unknownFirst.code, 2);
    assertOneErrorLine(unknownFirst.stderr, /unknown option '--bogus'/);
    const misspelt = await runCli(['submit', 'report', '--inptu', '{}']);
    assert.equal(misspelt.code, 2);
    assertOneErrorLine(misspelt.stderr, /unknown option '--inptu'.*Did you mean --input\?/);

    const badJson = await runCli(withAuth('submit', 'report', '--input', '{nope'));
    assert.equal(badJson.code, 2);
    assertOneErrorLine(badJson.stderr, /--input is not valid JSON/);

    const badNumber = await runCli(withAuth('submit', 'report', '--input', '{}', '--priority', 'high'));
    assert.equal(badNumber.code, 2);
    assertOneErrorLine(badNumber.stderr, new RegExp(`--priority.*expected a whole number from ${PRIORITY.min} to ${PRIORITY.max}$`));

    // The server's ranges (config/limits.ts): what it would refuse with a 400 is refused here, before any request.
    const requestsBefore = api.requests.length;
    for (const [flag, value] of [
      ['--priority', PRIORITY.max + 1],
      ['--priority', PRIORITY.min - 1],
      ['--max-attempts', MAX_ATTEMPTS + 1],
    ] as const) {
      const outside = await runCli(withAuth('submit', 'report', '--input', '{}', flag, String(value)));
      assert.equal(outside.code, 2, `${flag} ${value}`);
      assertOneErrorLine(outside.stderr, new RegExp(`${flag}.*'${value}' is invalid`));
    }
    // What the API would refuse, or what JSON would send changed, in the input; keys no header can carry.
    const badBytes = join(tmp, 'latin1.json');
    writeFileSync(badBytes, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    for (const [args, message] of [
      [['submit', 'report', '--input', '{"big":1e400}'], /--input holds a number too large to represent \(past 1\.8e308\)$/],
      [['submit', 'report', '--input', `@${badBytes}`], /latin1\.json is not UTF-8 text$/],
      [['submit', 'report', '--input', '{}', '--idempotency-key', 'ключ'], /--idempotency-key must be 1\.\.255 visible ASCII characters$/],
      [['--api-key', 'ключ-0123456789', 'status', 'op_1'], /--api-key \(ASYNCOPS_API_KEY\) must be visible ASCII characters$/],
    ] as const) {
      const run = await runCli(args[0] === '--api-key' ? [...args] : withAuth(...args));
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assertOneErrorLine(run.stderr, message);
    }
    // Inline, as a shell hands it over: Node would decode the byte as U+FFFD, and the server get the input changed.
    const inline = await runShell(
      `${JSON.stringify(process.execPath)} ${CLI} --url ${url} --api-key secret-key submit report --input "$(printf '{"a":"caf\\351"}')"`,
    );
    assert.equal(inline.code, 2, inline.stderr);
    assertOneErrorLine(inline.stderr, /^asyncops: argument 8 is not UTF-8 text: it would reach the server changed/);
    const badKey = await runCli(withAuth('submit', 'report', '--input', '{}', '--concurrency-key', 'not a key'));
    assert.equal(badKey.code, 2);
    assertOneErrorLine(badKey.stderr, /--concurrency-key must be 1\.\.128 letters, digits or _ \. : @ \/ - \(a letter or digit first\)$/);
    // Times the API would refuse (Date.parse reads them; RFC 3339 does not have them).
    for (const [args, flag] of [
      [['submit', 'report', '--input', '{}', '--run-at', 'Dec 1 2026'], '--run-at'],
      [['submit', 'report', '--input', '{}', '--run-at', '2026-12-01'], '--run-at'],
      [['submit', 'report', '--input', '{}', '--run-at', '2026-02-30T00:00:00Z'], '--run-at'],
      [['list', '--created-after', 'yesterday'], '--created-after'],
      [['bulk', 'cancel', '--created-before', '2026-12-01 10:00'], '--created-before'],
    ] as const) {
      const run = await runCli(withAuth(...args));
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assertOneErrorLine(run.stderr, new RegExp(`${flag}.*expected an RFC 3339 time such as 2026-12-01T09:00:00Z$`));
    }
    assert.equal(api.requests.length, requestsBefore, 'nothing was sent');
    const scheduled = await runCli(withAuth('submit', 'report', '--input', '{}', '--run-at', '2026-12-01T09:00:00+01:00'));
    assert.equal(scheduled.code, 0, scheduled.stderr);
    assert.equal(JSON.parse(api.requests.at(-1)!.body).run_at, '2026-12-01T09:00:00+01:00');
    // The years 0 to 99 are years (Date.UTC reads them as 1900 to 1999); the server judges the instant.
    const early = await runCli(withAuth('submit', 'report', '--input', '{}', '--run-at', '0050-06-15T00:00:00Z'));
    assert.equal(early.code, 0, early.stderr);
    const keyed = await runCli(withAuth('submit', 'report', '--input', '{}', '--concurrency-key', 'acct:42'));
    assert.equal(keyed.code, 0, keyed.stderr);
    assert.equal(JSON.parse(api.requests.at(-1)!.body).concurrency_key, 'acct:42', 'sent as concurrency_key');
    const fraction = await runCli(withAuth('submit', 'report', '--input', '{}', '--max-attempts', '1.5'));
    assertOneErrorLine(fraction.stderr, new RegExp(`--max-attempts.*'1\\.5' is invalid\\. expected a whole number from 1 to ${MAX_ATTEMPTS}$`));
    // An open-ended range says so, rather than "from 1 to up": the ceiling is the server's --max-timeout.
    const timeout = await runCli(withAuth('submit', 'report', '--input', '{}', '--timeout', '1.5'));
    assert.equal(timeout.code, 2);
    assertOneErrorLine(timeout.stderr, /--timeout.*'1\.5' is invalid\. expected a whole number of at least 1$/);
  });

  test('a reader that goes away (| head -1) ends the run quietly, with the status decided so far', async () => {
    const help = await runCli(['--help'], { closeEarly: 'stdout' });
    assert.equal(help.code, 0);
    assert.equal(help.stderr, '', 'no EPIPE stack trace');
    const usage = await runCli(['status', 'op_1', '--bogus'], { closeEarly: 'stderr' });
    assert.equal(usage.code, 2);
    assert.equal(usage.stdout, '');
    // Only the diagnostics' reader gone: the wait goes on to the operation's end, and says so on stdout.
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing', progress: 0.1, message: 'starting' },
      { atMs: 800, status: 'completed', progress: 1 },
    ]);
    const waited = await runCli(withAuth('wait', op.id), { closeEarly: 'stderr' });
    assert.equal(waited.code, 0);
    assert.match(waited.stdout, /completed/, 'the end, written when it came');
  });

  test('an API problem exits 6 with its title, detail and status on one line', async () => {
    const run = await runCli(withAuth('status', 'op_missing'));
    assert.equal(run.code, 6);
    assertOneErrorLine(run.stderr, /Not found: no operation op_missing \[404\]/);
    const unauthorized = await runCli(['--url', url, 'status', 'op_missing']);
    assert.equal(unauthorized.code, 6);
    assertOneErrorLine(unauthorized.stderr, /\[401\] \(the CLI sends the key given with --api-key or ASYNCOPS_API_KEY\)$/);
  });

  test('bulk --wait --wait-timeout ends at its timeout while a poll goes unanswered: exit 4, the action going on', async () => {
    api.failNext(1, 'hang', '/bulk-actions/');
    const started = Date.now();
    const bulk = await runCli(withAuth('bulk', 'cancel', '--status', 'pending', '--wait', '--wait-timeout', '2'));
    assert.equal(bulk.code, 4, bulk.stderr);
    assert.ok(Date.now() - started < 10_000, `ended ${Date.now() - started} ms on, not when the poll's own timeout let go`);
    assert.match(bulk.stderr, /still (pending|processing) after --wait-timeout; it goes on/);
  });

  test('bulk --wait and list --all ask again after a dropped connection or a 503, as wait does, and end 0', async () => {
    api.failNext(1, 'reset', '/bulk-actions/');
    api.failNext(1, 503, '/bulk-actions/');
    const bulk = await runCli(withAuth('bulk', 'cancel', '--status', 'pending', '--wait'));
    assert.equal(bulk.code, 0, bulk.stderr);
    assert.match(bulk.stdout, /^bulk_\d+ {2}cancel {2}completed {2}3\/3 processed/);
    for (let i = 0; i < 3; i++) api.addOperation('report', {});
    api.failNext(1, 503, '/operations');
    const list = await runCli(withAuth('list', '--all', '--limit', '1', '--json'));
    assert.equal(list.code, 0, list.stderr);
    assert.ok(JSON.parse(list.stdout).items.length >= 3);
  });

  test('Ctrl-C (SIGINT) or SIGTERM stops a wait: exit 130, one line naming how to follow the operation again', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const op = api.addOperation('report', {}, [{ atMs: 0, status: 'processing', progress: 0.3 }]);
      const child = startCli(withAuth('wait', op.id));
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      await waitForStderr(child, /processing/);
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 130, stderr);
      assert.match(stderr, new RegExp(`asyncops: stopped waiting \\(${signal}\\); ${op.id} goes on: \`asyncops wait ${op.id}\` follows it again\\n$`));
    }
  });

  test('wait exits 1 for failed, 3 for cancelled, 4 for an operation timeout and for its own --timeout', async () => {
    const cases = [
      { stages: ended('failed', 'handler_error'), args: [], code: 1 },
      { stages: ended('cancelled', 'cancelled'), args: [], code: 3 },
      { stages: ended('failed', 'timeout'), args: [], code: 4 },
      { stages: [{ atMs: 0, status: 'processing' } as FakeStage], args: ['--timeout', '1'], code: 4 },
    ];
    const runs = await Promise.all(
      cases.map(async (c) => {
        const op = api.addOperation('report', {}, c.stages);
        return { expected: c.code, run: await runCli(withAuth('wait', op.id, ...c.args)) };
      }),
    );
    for (const { expected, run } of runs) assert.equal(run.code, expected, run.stderr);
    assert.match(runs[3]!.run.stderr, /asyncops: operation op_\d+ did not finish within 1 s/);
  });
});

/** Whether script(1), which runs a command on a pseudo-terminal, is installed. */
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('submit --wait progress', () => {
  test('off a TTY: one plain line per change, no control characters, result saved with -o', async () => {
    const file = join(tmp, 'out.json');
    const input = join(tmp, 'input.json');
    writeFileSync(input, JSON.stringify({ date_range: '2026-01-01..2026-01-31' }));
    const run = await runCli(withAuth('submit', 'report', '--input', `@${input}`, '--wait', '-o', file));
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, CONTROL_CHARS);
    assert.doesNotMatch(run.stdout, CONTROL_CHARS);
    const lines = run.stderr.trim().split('\n');
    assert.match(lines[0]!, /^submitted op_\d+$/);
    assert.ok(
      lines.some((l) => /processing {2}60% {2}"aggregating rows" {2}ETA \d+s/.test(l)),
      run.stderr,
    );
    assert.ok(
      lines.some((l) => /^\[\d+s\] op_\d+ {2}report {2}completed/.test(l)),
      run.stderr,
    );
    assert.equal(new Set(lines).size, lines.length, 'no line repeats');
    assert.match(run.stdout, /completed/);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { total: 42 });
    // With -o -, standard output is the result's alone; the closing line goes to standard error.
    const piped = await runCli(withAuth('submit', 'report', '--input', `@${input}`, '--wait', '-o', '-'));
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(JSON.parse(piped.stdout), { total: 42 });
    assert.match(piped.stderr.trim().split('\n').at(-1)!, /^op_\d+ {2}report {2}completed/);
    const submitted = api.requests.find((r) => r.method === 'POST' && r.body.includes('2026-01-01'));
    assert.deepEqual(JSON.parse(submitted!.body).input, { date_range: '2026-01-01..2026-01-31' });
  });

  test('on a TTY (under script(1)): a progress bar with percent, elapsed and ETA', {
    skip: hasScript ? false : 'script(1) from util-linux is not installed',
  }, async () => {
    // The 60% stage lasts long enough that however long the CLI takes to start, it reads it before completion.
    const op = api.addOperation('report', {}, [
      { atMs: 0, status: 'processing', progress: 0.6, message: 'aggregating rows', etaS: 2 },
      { atMs: 4_000, status: 'completed', progress: 1 },
    ]);
    const command = [process.execPath, CLI, ...withAuth('wait', op.id)].map((a) => `'${a}'`).join(' ');
    const run = await runShell(`script -qfec ${JSON.stringify(command)} /dev/null`);
    assert.equal(run.code, 0, run.stdout);
    assert.match(run.stdout, /\u001b\[/, 'the bar draws with terminal control sequences');
    assert.match(run.stdout, /processing \[[\u2588\u2591]{20}\] 60% \| ETA \d+s \| elapsed \d+s \| aggregating rows/);
    assert.match(run.stdout, /completed {2}\[\u2588{20}\] 100% \| ETA 0s/);
  });
});

describe('result on a TTY', () => {
  test('bytes a terminal would not show as they are (an image, escape sequences) go to it only with -o - (under script(1))', {
    skip: hasScript ? false : 'script(1) from util-linux is not installed',
  }, async () => {
    const binary = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    Object.assign(api.operations.get(binary.id)!, {
      result: { contentType: 'image/png', body: new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00]) },
    });
    const escapes = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    Object.assign(api.operations.get(escapes.id)!, { result: { contentType: 'text/plain', body: 'ok\u001b]0;pwned\u0007' } });
    const onTty = async (...args: string[]) => {
      const command = [process.execPath, CLI, ...withAuth('result', ...args)].map((a) => `'${a}'`).join(' ');
      // In a file: a `$?` in script's command line would be the outer shell's.
      const file = join(tmp, 'result-on-tty.sh');
      writeFileSync(file, `${command}\necho rc=$?\n`);
      const run = await runShell(`script -qfec 'sh ${file}' /dev/null`);
      return { output: run.stdout, code: Number(/rc=(\d+)/.exec(run.stdout)?.[1]) };
    };
    for (const op of [binary, escapes]) {
      const refused = await onTty(op.id);
      assert.equal(refused.code, 2, refused.output);
      assert.match(refused.output, /asyncops: the result is not text a terminal shows as it is \([^)]*\): save it with -o FILE/);
      assert.doesNotMatch(refused.output, /PNG|pwned/, 'nothing of it written');
    }
    const asked = await onTty(escapes.id, '-o', '-');
    assert.equal(asked.code, 0, asked.output);
    assert.match(asked.output, /pwned/, 'written when asked for');
    const text = api.addOperation('report', {}, [{ atMs: 0, status: 'completed' }]);
    const plain = await onTty(text.id);
    assert.equal(plain.code, 0, plain.output);
    assert.match(plain.output, /\{"total":42\}/, 'text goes to the terminal as before');
  });
});

describe('a wait stopped on a TTY', () => {
  test("shows the cursor again and ends the bar's line before the one-line note (under script(1))", {
    skip: hasScript ? false : 'script(1) from util-linux is not installed',
  }, async () => {
    const op = api.addOperation('report', {}, [{ atMs: 0, status: 'processing', progress: 0.4, message: 'working' }]);
    const cli = [process.execPath, CLI, ...withAuth('wait', op.id)].map((a) => `'${a}'`).join(' ');
    // SIGTERM, not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored.
    const script = join(tmp, 'stop-wait.sh');
    writeFileSync(script, `${cli} & p=$!\nsleep 3\nkill -TERM $p\nwait $p\necho rc=$?\n`);
    const run = await runShell(`script -qfec 'sh ${script}' /dev/null`);
    assert.match(run.stdout, /\u001b\[\?25l/, 'the bar hid the cursor');
    const hidden = run.stdout.lastIndexOf('\u001b[?25l');
    assert.ok(run.stdout.indexOf('\u001b[?25h', hidden) > hidden, 'and showed it again');
    assert.match(run.stdout, /\nasyncops: stopped waiting \(SIGTERM\)[^\n]*\r?\n(\r|\u001b\[[^a-zA-Z]*[a-zA-Z])*rc=130/);
  });
});

describe('listen', () => {
  const secret = `whsec_${Buffer.from('listen-test-secret-0123456789abc').toString('base64')}`;

  test('prints a correctly signed delivery and answers 204; rejects a tampered one with 401', async () => {
    const child = startCli(['listen', '--port', '0', '--secret', secret]);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const [, port] = await waitForStderr(child, /listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    const body = JSON.stringify({
      type: 'operation.completed',
      timestamp: '2026-01-01T00:00:00Z',
      operation_id: 'op_hook',
      status: 'completed',
      result_url: '/operations/op_hook/result',
      error: null,
      data: {},
    });
    const headers = await signWebhook({ secrets: [secret], msgId: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body });
    const post = (payload: string) =>
      fetch(`http://127.0.0.1:${port}/hook`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: payload,
        signal: AbortSignal.timeout(5000),
      });

    const good = await post(body);
    assert.equal(good.status, 204);
    const bad = await post(body.replace('op_hook', 'op_evil'));
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as { status: number }).status, 401);
    await waitForStderr(child, /rejected webhook msg_1: no matching signature/);
    // Signed, but not an event: refused as one, not printed from fields it does not have.
    const nullHeaders = await signWebhook({ secrets: [secret], msgId: 'msg_null', timestamp: Math.floor(Date.now() / 1000), body: 'null' });
    const notAnEvent = await fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', headers: nullHeaders, body: 'null', signal: AbortSignal.timeout(5000) });
    assert.equal(notAnEvent.status, 401);
    await waitForStderr(child, /rejected webhook msg_null: signature matches but the body is not an asyncops webhook event/);

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.match(stdout, /^2026-01-01T00:00:00Z {2}operation\.completed {2}op_hook {2}completed {2}webhook-id=msg_1/);
    assert.doesNotMatch(stdout, /op_evil/);
  });

  test('a port already in use is one line and exit 2, not a stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const run = await runCli(['listen', '--port', String(port), '--secret', secret]);
      assert.equal(run.code, 2);
      assertOneErrorLine(run.stderr, new RegExp(`^asyncops: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use$`));
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });

  test('refuses to start without a secret (exit 2)', async () => {
    const run = await runCli(['listen', '--port', '0']);
    assert.equal(run.code, 2);
    assertOneErrorLine(run.stderr, /needs --secret/);
  });

  test('an empty or malformed --secret, or an empty ASYNCOPS_WEBHOOK_SECRET, is a usage error (exit 2) naming --secret', async () => {
    for (const [secret, message] of [
      ['', /needs --secret .*: the one given is empty$/],
      [' , ', /needs --secret .*: the one given is empty$/],
      ['whsec_%%%', /^asyncops: --secret: /],
    ] as const) {
      const run = await runCli(['listen', '--port', '0', '--secret', secret]);
      assert.equal(run.code, 2, JSON.stringify(secret));
      assertOneErrorLine(run.stderr, message);
      assert.doesNotMatch(run.stderr, /leave it unset/, "not the server's advice, which leads a listener to the other refusal");
    }
    const fromEnv = await runCli(['listen', '--port', '0'], { env: { ASYNCOPS_WEBHOOK_SECRET: '' } });
    assert.equal(fromEnv.code, 2);
    assertOneErrorLine(fromEnv.stderr, /ASYNCOPS_WEBHOOK_SECRET.*: the one given is empty$/);
  });
});
