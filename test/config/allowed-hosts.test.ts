import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostAllowed, parseAllowedHosts } from '../../src/config/allowed-hosts.ts';

describe('allowed hosts (DNS rebinding)', () => {
  it('always answers IP addresses and localhost names, with or without a port', () => {
    for (const host of [
      '127.0.0.1:8080',
      '127.0.0.1',
      '[::1]:8080',
      '[::1]',
      '10.1.2.3:80',
      'localhost:8080',
      'LOCALHOST',
      'app.localhost:3000',
      'localhost.',
    ]) {
      assert.equal(hostAllowed(host, []), true, host);
    }
    assert.equal(hostAllowed(undefined, []), true, 'HTTP/1.0 sends no Host');
  });

  it('refuses other names unless listed; a leading dot also allows subdomains; * allows any', () => {
    for (const host of ['rebind.attacker.example:8080', 'evil.com', 'localhost.evil.com', '127.0.0.1.nip.io', 'a:b:c', '[zz]']) {
      assert.equal(hostAllowed(host, []), false, host);
    }
    const allowed = parseAllowedHosts('api.internal, .corp.example');
    assert.deepEqual(allowed, ['api.internal', '.corp.example']);
    assert.equal(hostAllowed('API.internal:8080', allowed), true);
    assert.equal(hostAllowed('corp.example', allowed), true);
    assert.equal(hostAllowed('jobs.corp.example', allowed), true);
    assert.equal(hostAllowed('evilcorp.example', allowed), false);
    assert.equal(hostAllowed('api.internal.evil.com', allowed), false);
    assert.equal(hostAllowed('anything.example', parseAllowedHosts('*')), true);
  });

  it('refuses what is not a host name, with a message naming it', () => {
    assert.throws(() => parseAllowedHosts('https://api.internal'), /"https:\/\/api.internal" is not a host name/);
    assert.throws(() => parseAllowedHosts('api.internal:8080'), /not a host name/);
    assert.throws(() => parseAllowedHosts(' , '), /expected host names/);
  });
});
