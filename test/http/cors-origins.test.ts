// What --cors-origin accepts: origins as a browser sends them in `Origin`, or `*` alone (and only with API keys).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { corsOriginsRefusal, parseCorsOrigins } from '../../src/config/cors-origins.ts';

describe('parseCorsOrigins', () => {
  it('takes a comma-separated list, normalised as browsers send Origin', () => {
    assert.deepEqual(parseCorsOrigins('https://App.Example.com/, http://localhost:5173,https://app.example.com:443'), [
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    assert.deepEqual(parseCorsOrigins('http://127.0.0.1:8081'), ['http://127.0.0.1:8081']);
    assert.deepEqual(parseCorsOrigins('http://[::1]:3000'), ['http://[::1]:3000']);
  });

  it('reads an empty list as off, and `*` alone as any origin', () => {
    assert.throws(() => parseCorsOrigins(''), /names no origin/);
    assert.throws(() => parseCorsOrigins(' , '), /names no origin/);
    assert.equal(parseCorsOrigins(' * '), '*');
    assert.throws(() => parseCorsOrigins('*,https://app.example.com'), /stands alone/);
  });

  it('refuses what a browser never sends as an origin, naming it', () => {
    for (const [entry, reason] of [
      ['null', /null. origin cannot be allowed/],
      ['https://*.example.com', /wildcards are not supported/],
      ['app.example.com', /is not an origin/],
      ['ftp://example.com', /http or https/],
      ['https://example.com/app', /without a path/],
      ['https://example.com?x=1', /without a path, query/],
      ['https://user:pw@example.com', /credentials/],
    ] as const) {
      assert.throws(() => parseCorsOrigins(`https://ok.example.com,${entry}`), reason, entry);
    }
  });
});

describe('corsOriginsRefusal', () => {
  it('refuses `*` on a server without API keys, and nothing else', () => {
    assert.match(corsOriginsRefusal('*', false) ?? '', /without API keys/);
    assert.equal(corsOriginsRefusal('*', true), null);
    assert.equal(corsOriginsRefusal(['http://localhost:5173'], false), null);
    assert.equal(corsOriginsRefusal(null, false), null);
  });
});
