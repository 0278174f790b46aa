import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mergeApiKeys, parseApiKeysText } from '../../../src/cli/server/api-keys.ts';
import { tenantPolicies } from '../../../src/runtime/tenant-policies.ts';

const KEY_A = 'a-key-0123456789abcdef';
const KEY_B = 'b-key-0123456789abcdef';

describe('API keys file: fairness fields', () => {
  it("reads a tenant's weight and max_priority from the JSON form", () => {
    const keys = parseApiKeysText(
      JSON.stringify([
        { tenant: 'acme', key: KEY_A, weight: 3, max_priority: 10 },
        { tenant: 'globex', key: KEY_B },
      ]),
      'keys.json',
    );
    assert.deepEqual(keys, [
      { tenant: 'acme', key: KEY_A, weight: 3, maxPriority: 10 },
      { tenant: 'globex', key: KEY_B },
    ]);
    const policies = tenantPolicies(keys, 1000);
    assert.deepEqual([...(policies.weights ?? [])], [['acme', 3]]);
    assert.equal(policies.maxPriority('acme'), 10);
    assert.equal(policies.maxPriority('globex'), 1000);
    assert.equal(policies.maxPriority(null), 10, 'an admin’s retry over every tenant: the lowest ceiling of any');
  });

  it('refuses a weight or ceiling out of range, and two entries of a tenant that disagree, naming where', () => {
    for (const [field, value] of [
      ['weight', 0],
      ['weight', 1.5],
      ['weight', 1001],
      ['max_priority', 1001],
      ['max_priority', '5'],
    ] as const) {
      assert.throws(
        () => parseApiKeysText(JSON.stringify([{ tenant: 'acme', key: KEY_A, [field]: value }]), 'keys.json'),
        (error: Error) => {
          assert.match(error.message, new RegExp(`^keys\\.json: item 0: ${field}`));
          return true;
        },
      );
    }
    assert.throws(
      () =>
        mergeApiKeys([
          { tenant: 'acme', key: KEY_A, weight: 2 },
          { tenant: 'acme', key: KEY_B, weight: 3 },
        ]),
      /tenant acme has two different weight values/,
    );
  });

  it('refuses one key given twice, as it is and as its sha256 (either case), for one tenant or two', () => {
    const hash = createHash('sha256').update(KEY_A).digest('hex');
    for (const sha256 of [hash, hash.toUpperCase()]) {
      const entries = parseApiKeysText(`globex:sha256:${sha256}`, 'keys.txt');
      assert.throws(() => mergeApiKeys([{ tenant: 'acme', key: KEY_A }], entries), /a key is configured twice \(tenant globex\)/);
    }
    assert.throws(() => mergeApiKeys(parseApiKeysText(`acme:sha256:${hash}\nacme:${KEY_A}`, 'keys.txt')), /configured twice/);
    assert.equal(mergeApiKeys([{ tenant: 'acme', key: KEY_A }], [{ tenant: 'acme', key: KEY_B }]).length, 2);
  });
});

describe('API keys file: admin keys', () => {
  it('reads `admin: true` from the JSON form, and refuses anything but a boolean', () => {
    const keys = parseApiKeysText(
      JSON.stringify([
        { tenant: 'ops', key: KEY_A, admin: true },
        { tenant: 'globex', key: KEY_B, admin: false },
      ]),
      'keys.json',
    );
    assert.deepEqual(keys, [
      { tenant: 'ops', key: KEY_A, admin: true },
      { tenant: 'globex', key: KEY_B },
    ]);
    assert.throws(
      () => parseApiKeysText(JSON.stringify([{ tenant: 'ops', key: KEY_A, admin: 'yes' }]), 'keys.json'),
      /keys\.json: item 0: admin must be true or false$/,
    );
  });
});
