// Owns: checks of the store specification parser (which adapter, the PostgreSQL schema taken from the URL).
// Not here: any store behaviour (the contract suite); nothing here connects to a database.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openStoreFromSpec, postgresSpec } from '../../src/store/open.ts';

describe('postgresSpec', () => {
  it('takes ?schema= out of the URL and keeps every other parameter', () => {
    assert.deepEqual(postgresSpec('postgres://app@db.internal:5432/jobs?schema=tenant_a'), { url: 'postgres://app@db.internal:5432/jobs', schema: 'tenant_a' });
    assert.deepEqual(postgresSpec('postgres://u:p%40ss@h/db?sslmode=require&schema=s1'), { url: 'postgres://u:p%40ss@h/db?sslmode=require', schema: 's1' });
  });

  it('without ?schema= leaves the URL as given and uses the option (the adapter default when none)', () => {
    assert.deepEqual(postgresSpec('postgresql://h/db'), { url: 'postgresql://h/db', schema: undefined });
    assert.deepEqual(postgresSpec('postgres://h/db', 'other'), { url: 'postgres://h/db', schema: 'other' });
  });

  it('refuses a schema named twice, an empty one, or one that disagrees with the option', () => {
    assert.throws(() => postgresSpec('postgres://h/db?schema=a&schema=b'), /once/);
    assert.throws(() => postgresSpec('postgres://h/db?schema='), /once/);
    assert.throws(() => postgresSpec('postgres://h/db?schema=a', 'b'), /"a".*"b"/);
    assert.deepEqual(postgresSpec('postgres://h/db?schema=a', 'a'), { url: 'postgres://h/db', schema: 'a' });
  });

  it('a schema name PostgreSQL would need quoted is refused before anything connects', () => {
    assert.throws(() => openStoreFromSpec('postgres://h/db?schema=Bad-Name'), /schema name/);
  });
});

describe('openStoreFromSpec', () => {
  it('picks the adapter from the specification', () => {
    assert.equal(openStoreFromSpec('postgres://h/db?schema=x').kind, 'postgres');
    assert.equal(openStoreFromSpec(':memory:').kind, 'sqlite');
    assert.throws(() => openStoreFromSpec('mysql://h/db'), /unsupported scheme/);
  });
});
