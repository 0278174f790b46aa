// Owns: the logger's redaction of secrets at any depth (redactDeep), alone and in the real server's log lines.
// Not here: a request's URL in a line (http/stream-tokens), the request logger's bindings (http/request-logger).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REDACTED, redactDeep } from '../../src/telemetry/log-redaction.ts';
import { REPO_ROOT, startServer } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

describe('log redaction', () => {
  it('redacts secret fields in nested objects and in arrays, whatever their case, and keeps the rest', () => {
    const line = {
      msg: 'calling out',
      request: { headers: { Authorization: 'Bearer x', accept: 'json' } },
      config: { db: { deeper: { PASSWORD: 'p', host: 'db' } } },
      clients: [{ apiKey: 'k' }, 'plain', [{ secrets: ['s'] }]],
      connectionString: 'postgres://u:p@h/d',
      n: 1,
    };
    assert.deepEqual(redactDeep(line), {
      msg: 'calling out',
      request: { headers: { Authorization: REDACTED, accept: 'json' } },
      config: { db: { deeper: { PASSWORD: REDACTED, host: 'db' } } },
      clients: [{ apiKey: REDACTED }, 'plain', [{ secrets: REDACTED }]],
      connectionString: REDACTED,
      n: 1,
    });
    assert.equal(line.config.db.deeper.PASSWORD, 'p', 'the caller’s object is not changed');
  });

  it('passes a line without secrets on as it is, and leaves errors, cycles and what is past its depth alone', () => {
    const plain = { msg: 'hello', nested: { a: [1, 2, { b: 'c' }] } };
    assert.equal(redactDeep(plain), plain);
    const err = Object.assign(new Error('boom'), { password: 'in-error' });
    const withError = { err };
    assert.equal(redactDeep(withError), withError, 'an Error is pino’s serializer’s');
    const cyclic: Record<string, unknown> = { secret: 's' };
    cyclic.self = cyclic;
    const out = redactDeep({ cyclic }) as { cyclic: Record<string, unknown> };
    assert.equal(out.cyclic.secret, REDACTED);
    let deep: Record<string, unknown> = { password: 'too deep' };
    for (let i = 0; i < 40; i++) deep = { inner: deep };
    assert.equal(redactDeep(deep), deep);
  });

  it("the real server's log lines carry no secret a handler logs nested in objects or arrays", async () => {
    const node = await startServer({ args: ['--tasks', join(REPO_ROOT, 'test/fixtures/logging-tasks.ts')] });
    try {
      const created = await request(node.url, 'POST', '/operations', { body: { type: 'leaky_log', input: {} }, headers: { prefer: 'wait=10' } });
      assert.equal(created.body.status, 'completed');
      const line = await waitFor(() => node.logs.find((e) => e.msg === 'calling out'), { what: 'the handler’s line' });
      const text = JSON.stringify(line);
      for (const secret of ['nested-bearer', 'nested-password', 'array-key', 'one-down-key']) assert.doesNotMatch(text, new RegExp(secret), text);
      assert.equal((line as { kept?: unknown }).kept, 'visible');
      assert.deepEqual((line as { clients?: unknown }).clients, [{ name: 'geo', apiKey: REDACTED }]);
    } finally {
      await node.stop();
    }
  });
});
