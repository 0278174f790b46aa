// A failed choice of constants is one field error naming the allowed values, however the schema spells the choice
// (an anyOf of const, as TypeBox writes a union of literals, or an enum); other errors pass through as Ajv words them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { Type } from '@sinclair/typebox';
import { fieldErrorsOf } from '../../src/runtime/schema-errors.ts';

const ajv = new Ajv({ allErrors: true, strict: false });

function errorsOf(schema: object, value: unknown, prefix = ''): ReturnType<typeof fieldErrorsOf> {
  const validate = ajv.compile(schema);
  assert.equal(validate(value), false, 'the value should fail');
  return fieldErrorsOf(validate.errors ?? [], prefix);
}

describe('fieldErrorsOf', () => {
  const Status = Type.Union(['pending', 'processing', 'completed'].map((s) => Type.Literal(s)));

  it('a union of literals is one error naming the allowed values, not one per branch', () => {
    assert.deepEqual(errorsOf(Type.Object({ status: Status }), { status: 'bogus' }, '/querystring'), [
      { path: '/querystring/status', message: 'must be one of pending, processing, completed' },
    ]);
  });

  it('an enum names its allowed values, strings as written and anything else as JSON', () => {
    assert.deepEqual(errorsOf({ type: 'object', properties: { n: { enum: ['a', 1, null] } } }, { n: 'b' }), [
      { path: '/n', message: 'must be one of a, 1, null' },
    ]);
  });

  it('each failed choice is reported at its own path, beside the other errors', () => {
    const schema = Type.Object({ a: Status, b: Status, n: Type.Integer() }, { additionalProperties: false });
    assert.deepEqual(errorsOf(schema, { a: 'x', b: 'y', n: 1.5, extra: true }, '/input'), [
      { path: '/input/extra', message: 'must NOT have additional properties' },
      { path: '/input/a', message: 'must be one of pending, processing, completed' },
      { path: '/input/b', message: 'must be one of pending, processing, completed' },
      { path: '/input/n', message: 'must be integer' },
    ]);
  });

  it('a union that is not only constants keeps every error: which branch was meant is not for this to guess', () => {
    const errors = errorsOf(Type.Object({ v: Type.Union([Type.Literal('auto'), Type.Integer()]) }), { v: 'x' });
    assert.deepEqual(
      errors.map((e) => e.message),
      ['must be equal to constant', 'must be integer', 'must match a schema in anyOf'],
    );
  });

  it('a missing property is reported at its own path; the root is "/"', () => {
    assert.deepEqual(errorsOf(Type.Object({ type: Type.String() }), {}), [{ path: '/type', message: "must have required property 'type'" }]);
    assert.deepEqual(errorsOf(Type.Object({}), 5), [{ path: '/', message: 'must be object' }]);
  });
});
