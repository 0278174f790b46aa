// Route schemas compiled on first use (src/http/lazy-compilers.ts): nothing is compiled before a request needs it, and
// what is compiled then answers as the eagerly compiled function would, errors included.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { lazySerializers, lazyValidator } from '../../src/http/lazy-compilers.ts';

describe('lazy route compilers', () => {
  it('a validator compiles once, on its first call, and carries the errors of each call', () => {
    const ajv = new Ajv({ allErrors: true });
    const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };
    let compiles = 0;
    const validate = lazyValidator(() => {
      compiles++;
      return ajv.compile(schema);
    });
    // Read through a call: the assertions would otherwise narrow the property's type between calls.
    const errors = () => validate.errors;
    assert.equal(compiles, 0, 'nothing compiled before it is used');
    assert.equal(validate({ n: 'x' }), false);
    assert.equal(errors()?.[0]?.instancePath, '/n');
    assert.equal(validate({ n: 1 }), true);
    assert.equal(errors(), null, 'the errors of the call before are not carried over');
    assert.equal(validate({}), false);
    assert.equal(errors()?.[0]?.keyword, 'required');
    assert.equal(compiles, 1);
  });

  it("a serializer is Fastify's own, built on its first call", () => {
    const external = { thing: { $id: 'thing', type: 'object', properties: { id: { type: 'string' } } } };
    const compile = lazySerializers(external, {});
    const serialize = compile({
      method: 'GET',
      url: '/x',
      httpStatus: '200',
      schema: { type: 'object', properties: { a: { $ref: 'thing#' }, n: { type: 'integer' } } },
    });
    assert.equal(serialize({ a: { id: 'x', hidden: true }, n: 2.4, extra: 1 }), '{"a":{"id":"x"},"n":2}');
    assert.throws(
      () => compile({ method: 'GET', url: '/y', httpStatus: '200', schema: { $ref: 'missing#' } })({}),
      /missing/,
      'a schema that does not build fails where it is first used',
    );
  });
});
