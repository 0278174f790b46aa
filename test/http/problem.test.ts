// Every error code has one HTTP mapping and one row in the README's Errors table, with the same status.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AsyncOpsError, ERROR_CODES } from '../../src/domain/errors.ts';
import { PROBLEMS, problemFor } from '../../src/http/problem.ts';

describe('problem details', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const errorsSection = readme.slice(readme.indexOf('## Errors'), readme.indexOf('\n## ', readme.indexOf('## Errors') + 1));

  for (const code of ERROR_CODES) {
    it(`${code} is mapped and documented with the same status`, () => {
      const mapping = PROBLEMS[code];
      assert.ok(mapping.status >= 400 && mapping.status < 600);
      const row = new RegExp(`^\\| \`${code}\` \\| (\\d{3}) \\|`, 'm').exec(errorsSection);
      assert.ok(row, `README ## Errors has a row for ${code}`);
      assert.equal(Number(row[1]), mapping.status);
    });
  }

  it('renders RFC 9457 members, field errors and extensions', () => {
    const problem = problemFor(new AsyncOpsError('not_completed', 'op is pending', { extra: { operation_status: 'pending' } }), '/operations/op_x/result');
    assert.deepEqual(problem, {
      type: 'https://asyncops.dev/problems/not_completed',
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
});
