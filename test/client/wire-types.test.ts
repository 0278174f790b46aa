// The SDK's wire types (src/client/wire.ts) are generated from the server's own /openapi.json, and this test keeps them
// so: a route schema that changes (a field added, made nullable, an enum widened) fails here until
// `npm run generate:client-types` writes the file again (or ASYNCOPS_UPDATE_CLIENT_TYPES=1 with this test).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { serverDocument, typeOf, WIRE_TYPES_FILE, wireTypesSource } from '../../scripts/client-wire-types.ts';

describe('SDK wire types', () => {
  it("src/client/wire.ts is exactly what the server's /openapi.json generates", async () => {
    const generated = wireTypesSource(await serverDocument());
    if (process.env.ASYNCOPS_UPDATE_CLIENT_TYPES === '1') writeFileSync(WIRE_TYPES_FILE, generated);
    assert.equal(readFileSync(WIRE_TYPES_FILE, 'utf8'), generated, 'the server schemas changed: run `npm run generate:client-types`');
    for (const name of ['Operation', 'WebhookEvent', 'Problem', 'SubmitOperationBody', 'ListOperationDeliveriesResponse']) {
      assert.match(generated, new RegExp(`export (interface|type) ${name}\\b`), name);
    }
  });

  it('turns the JSON schema forms the routes use into TypeScript', () => {
    assert.equal(typeOf({ type: ['string', 'null'] }), 'string | null');
    assert.equal(typeOf({ anyOf: [{ type: 'integer' }, { type: 'null' }] }), 'number | null');
    assert.equal(typeOf({ type: 'string', enum: ['a', "b'c"] }), "'a' | 'b\\'c'");
    assert.equal(typeOf({ type: 'array', items: { $ref: '#/components/schemas/Operation' } }), 'Array<Operation>');
    assert.equal(typeOf({}), 'unknown');
    assert.equal(
      typeOf({ type: 'object', required: ['a'], properties: { a: { type: 'boolean', description: 'yes' }, 'b-c': { const: 1 } } }),
      "{\n  /** yes */\n  a: boolean;\n  'b-c'?: 1;\n}",
    );
    assert.equal(typeOf({ allOf: [{ $ref: '#/components/schemas/A' }, { type: 'object', properties: {} }] }), 'A & Record<string, unknown>');
  });
});
