// Every error code has one HTTP mapping and one row in the Errors table (docs/errors.md), with the same status; a
// failure of the server's own is a problem too, naming its instance.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { AsyncOpsError, ERROR_CODES } from '../../src/domain/errors.ts';
import { PROBLEMS, installProblemHandlers, problemFor } from '../../src/http/problem.ts';

describe('problem details', () => {
  // The problem codes' table opens the page; the sections after it are about other things.
  const errorsPage = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const nextSection = errorsPage.indexOf('\n## ');
  const errorsSection = nextSection < 0 ? errorsPage : errorsPage.slice(0, nextSection);

  for (const code of ERROR_CODES) {
    it(`${code} is mapped and documented with the same status`, () => {
      const mapping = PROBLEMS[code];
      assert.ok(mapping.status >= 400 && mapping.status < 600);
      const row = new RegExp(`^\\| \`${code}\` \\| (\\d{3}) \\|`, 'm').exec(errorsSection);
      assert.ok(row, `docs/errors.md has a row for ${code}`);
      assert.equal(Number(row[1]), mapping.status);
    });
  }

  it('renders RFC 9457 members, field errors and extensions', () => {
    const problem = problemFor(new AsyncOpsError('not_completed', 'op is pending', { extra: { operation_status: 'pending' } }), '/operations/op_x/result');
    assert.deepEqual(problem, {
      type: '/docs/problems#not_completed',
      title: 'Operation has not completed',
      status: 409,
      detail: 'op is pending',
      code: 'not_completed',
      operation_status: 'pending',
      instance: '/operations/op_x/result',
    });
    const invalid = problemFor(new AsyncOpsError('validation_failed', 'bad', { errors: [{ path: '/input/x', message: 'must be integer' }] }));
    assert.deepEqual(invalid.errors, [{ path: '/input/x', message: 'must be integer' }]);
  });

  it('a store that cannot take a write is a 503 to try again, and logged for the operator with its cause', async () => {
    const lines: string[] = [];
    const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } } });
    installProblemHandlers(app);
    app.post('/write', async () => {
      throw new AsyncOpsError('store_unavailable', 'SQLite: the disk is full', { cause: new Error('database or disk is full') });
    });
    app.post('/lost', async () => {
      throw new AsyncOpsError('store_unavailable', 'PostgreSQL unavailable: read ECONNRESET', { cause: new Error('read ECONNRESET') });
    });
    try {
      const response = await app.inject({ method: 'POST', url: '/write' });
      assert.equal(response.statusCode, 503);
      assert.equal(response.json().code, 'store_unavailable');
      const logged = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'store unavailable');
      assert.equal(logged.length, 1, lines.join(''));
      assert.equal(logged[0].level, 50);
      assert.equal(logged[0].detail, 'SQLite: the disk is full');
      assert.equal(logged[0].err.message, 'database or disk is full', "the store's own words, once");
      assert.equal(logged[0].answers, 1);
      // Once a second at most, however many 503s: the next line counts those it stands for.
      for (let i = 0; i < 3; i++) assert.equal((await app.inject({ method: 'POST', url: '/lost' })).statusCode, 503);
      await new Promise((resolve) => setTimeout(resolve, 1_050));
      await app.inject({ method: 'POST', url: '/lost' });
      const all = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'store unavailable');
      assert.equal(all.length, 2, lines.join(''));
      assert.equal(all[1].answers, 4);
      assert.equal(all[1].err.message, 'read ECONNRESET', 'not "…: read ECONNRESET: read ECONNRESET"');
    } finally {
      await app.close();
    }
  });

  it('an unhandled error is a 500 problem naming its instance, and says nothing of the error', async () => {
    const app = Fastify({ logger: false });
    installProblemHandlers(app);
    app.get('/boom', async () => {
      throw new Error('secret internals');
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/boom?x=1' });
      assert.equal(response.statusCode, 500);
      assert.match(response.headers['content-type'] as string, /^application\/problem\+json/);
      const problem = response.json();
      assert.deepEqual([problem.type, problem.code, problem.status, problem.instance], ['/docs/problems#internal', 'internal', 500, '/boom']);
      assert.doesNotMatch(response.body, /secret internals/);
    } finally {
      await app.close();
    }
  });
});
