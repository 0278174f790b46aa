// What a bulk action's filter selects, and which filters are refused (with the field named), before anything is stored.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION_STATUSES, checkBulkRequest, selectionOf, toBulkActionResource, type BulkAction } from '../../src/domain/bulk-action.ts';
import { AsyncOpsError } from '../../src/domain/errors.ts';

const TENANT = { tenant: 'acme', admin: false };
const ADMIN = { tenant: 'ops', admin: true };

function refused(run: () => unknown, path: string): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof AsyncOpsError);
    assert.equal(e.code, 'validation_failed');
    assert.ok(
      e.errors.some((f) => f.path === path),
      `names ${path}: ${e.message}`,
    );
    return true;
  });
}

describe('checkBulkRequest', () => {
  it('selects the statuses each action applies to, narrowed to one by filter.status', () => {
    assert.deepEqual(checkBulkRequest('retry', {}, TENANT).selection, {
      target: 'operations',
      statuses: ['failed', 'cancelled'],
      type: null,
      errorCode: null,
      createdAfter: null,
      createdBefore: null,
    });
    assert.deepEqual(ACTION_STATUSES.cancel, ['pending', 'processing']);
    assert.deepEqual(ACTION_STATUSES.delete, ['completed', 'failed', 'cancelled']);
    const narrowed = checkBulkRequest('delete', { status: 'failed', type: 'report', error_code: 'timeout' }, TENANT).selection;
    assert.deepEqual(narrowed, { target: 'operations', statuses: ['failed'], type: 'report', errorCode: 'timeout', createdAfter: null, createdBefore: null });
  });

  it('reads the time bounds as RFC 3339', () => {
    const selection = checkBulkRequest('retry', { created_after: '2026-01-01T00:00:00Z', created_before: '2026-01-02T00:00:00+01:00' }, TENANT).selection;
    assert.equal(selection.createdAfter, Date.UTC(2026, 0, 1));
    assert.equal(selection.createdBefore, Date.UTC(2026, 0, 1, 23));
  });

  it('replay_deliveries selects dead deliveries by operation type, url and time', () => {
    assert.deepEqual(checkBulkRequest('replay_deliveries', { operation_type: 'report', url: 'https://x.test/h' }, TENANT).selection, {
      target: 'deliveries',
      operationType: 'report',
      url: 'https://x.test/h',
      createdAfter: null,
      createdBefore: null,
    });
  });

  it('a tenant key acts on its own tenant; an admin on every tenant or the one it names', () => {
    assert.equal(checkBulkRequest('retry', {}, TENANT).tenant, 'acme');
    assert.equal(checkBulkRequest('retry', {}, ADMIN).tenant, null);
    assert.equal(checkBulkRequest('retry', { tenant: 'acme' }, ADMIN).tenant, 'acme');
    refused(() => checkBulkRequest('retry', { tenant: 'other' }, TENANT), '/filter/tenant');
    // Its own name is allowed, as `?tenant=` on reads is.
    assert.equal(checkBulkRequest('retry', { tenant: 'acme' }, TENANT).tenant, 'acme');
  });

  it('refuses a filter holding a NUL character (PostgreSQL text cannot hold one)', () => {
    refused(() => checkBulkRequest('retry', { type: 'rep\u0000ort' }, TENANT), '/filter/type');
    refused(() => checkBulkRequest('replay_deliveries', { url: 'http://x/\u0000' }, TENANT), '/filter/url');
  });

  it('refuses a status the action does not apply to, a field it does not take, a bad time or an empty range', () => {
    refused(() => checkBulkRequest('retry', { status: 'completed' }, TENANT), '/filter/status');
    refused(() => checkBulkRequest('cancel', { status: 'failed' }, TENANT), '/filter/status');
    refused(() => checkBulkRequest('retry', { status: 'nonsense' }, TENANT), '/filter/status');
    refused(() => checkBulkRequest('retry', { url: 'https://x.test' }, TENANT), '/filter/url');
    refused(() => checkBulkRequest('replay_deliveries', { status: 'failed' }, TENANT), '/filter/status');
    refused(() => checkBulkRequest('retry', { created_after: '2026-02-30T00:00:00Z' }, TENANT), '/filter/created_after');
    assert.throws(
      () => checkBulkRequest('retry', { created_before: '9999-12-31T23:59:59.9999Z' }, TENANT),
      (e: unknown) =>
        e instanceof AsyncOpsError &&
        /^is outside the instants a date-time can name/.test(e.errors.find((f) => f.path === '/filter/created_before')?.message ?? ''),
      'a time of the right form past the last instant is said to be out of range',
    );
    refused(
      () => checkBulkRequest('retry', { created_after: '2026-01-02T00:00:00Z', created_before: '2026-01-01T00:00:00Z' }, TENANT),
      '/filter/created_before',
    );
  });

  it('takes a priority on a retry alone, under the rule a submit meets (bounds, the tenant’s ceiling)', () => {
    const ceiling = (tenant: string | null) => (tenant === null ? 5 : tenant === 'acme' ? 20 : 1000);
    assert.equal(checkBulkRequest('retry', {}, TENANT, { priority: -10, ceiling }).priority, -10);
    assert.equal(checkBulkRequest('retry', {}, TENANT).priority, null, 'absent: each keeps its own');
    for (const action of ['cancel', 'delete', 'replay_deliveries'] as const) {
      refused(() => checkBulkRequest(action, {}, TENANT, { priority: 1, ceiling }), '/priority');
    }
    refused(() => checkBulkRequest('retry', {}, TENANT, { priority: -1001, ceiling }), '/priority');
    refused(() => checkBulkRequest('retry', {}, TENANT, { priority: 1.5, ceiling }), '/priority');
    refused(() => checkBulkRequest('retry', {}, TENANT, { priority: 21, ceiling }), '/priority');
    assert.equal(checkBulkRequest('retry', { tenant: 'big' }, ADMIN, { priority: 900, ceiling }).priority, 900, 'the named tenant’s ceiling');
    refused(() => checkBulkRequest('retry', {}, ADMIN, { priority: 6, ceiling }), '/priority');
    // Over every tenant the ceiling is the lowest of theirs, which the refusal says (no one tenant's is meant).
    assert.throws(() => checkBulkRequest('retry', {}, ADMIN, { priority: 6, ceiling }), /must be <= 5, the lowest ceiling of any tenant/);
    assert.throws(() => checkBulkRequest('retry', {}, TENANT, { priority: 21, ceiling }), /must be <= 20, this tenant's ceiling/);
  });

  it('a stored action selects what it was created with', () => {
    const stored = { action: 'retry' as const, filter: { type: 'report', tenant: 'acme' } };
    assert.deepEqual(selectionOf(stored), checkBulkRequest('retry', stored.filter, ADMIN).selection);
  });
});

describe('toBulkActionResource', () => {
  it('renders snake_case with RFC 3339 times and a self link under the base path', () => {
    const action: BulkAction = {
      id: 'bulk_01',
      action: 'cancel',
      filter: { type: 'report' },
      tenant: 'acme',
      priority: null,
      status: 'completed',
      total: 3,
      processed: 3,
      succeeded: 2,
      skipped: 1,
      createdBy: 'key:0',
      createdAt: Date.UTC(2026, 0, 1),
      startedAt: Date.UTC(2026, 0, 1, 0, 0, 1),
      finishedAt: null,
      error: null,
      cursor: 'op_x',
      leaseToken: 't',
      leaseExpiresAt: 1,
    };
    const resource = toBulkActionResource(action, '/async');
    assert.equal(resource.created_at, '2026-01-01T00:00:00.000Z');
    assert.equal(resource.started_at, '2026-01-01T00:00:01.000Z');
    assert.equal(resource.finished_at, null);
    assert.equal(resource.created_by, 'key:0');
    assert.deepEqual(resource.links, { self: '/async/bulk-actions/bulk_01' });
    assert.ok(!('cursor' in resource) && !('lease_token' in resource), 'a runner’s bookkeeping stays inside');
  });
});
