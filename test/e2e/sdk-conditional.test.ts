// End to end: the SDK's conditional changes against the real server. cancel, retry and delete take `ifMatch`, an ETag
// or an operation the client returned (whose ETag it sends); a stale one is a 412 and changes nothing, and an operation
// from a list, which came with no ETag, is refused before anything is sent.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncOpsApiError, AsyncOpsClient } from '../../src/client/index.ts';
import { STORE_INDEPENDENT, startServer, type ServerProcess } from '../support/server.ts';

const refusedAsStale = (error: unknown) => {
  assert.ok(error instanceof AsyncOpsApiError, String(error));
  assert.deepEqual([error.status, error.code], [412, 'precondition_failed']);
  return true;
};

describe('SDK conditional changes (ifMatch)', STORE_INDEPENDENT, () => {
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  it('change an operation only while it is as the client read it: a stale one is a 412 and nothing is done', async () => {
    const client = new AsyncOpsClient({ baseUrl: server.url });
    // Pending an hour ahead: nothing changes it but these requests.
    const submitted = await client.submit('echo', { n: 1 }, { runAt: new Date(Date.now() + 3_600_000) });
    const read = await client.get(submitted.id);
    const cancelled = await client.cancel(submitted.id, { ifMatch: read });
    assert.equal(cancelled.status, 'cancelled');

    await assert.rejects(client.retry(submitted.id, { ifMatch: submitted }), refusedAsStale);
    await assert.rejects(client.retry(submitted.id, { ifMatch: 'W/"op_other.1"' }), refusedAsStale);
    assert.equal((await client.get(submitted.id)).status, 'cancelled', 'nothing done');

    const [listed] = (await client.list({ q: submitted.id })).items;
    assert.ok(listed);
    await assert.rejects(client.retry(submitted.id, { ifMatch: listed }), /^TypeError: ifMatch: this operation came with no ETag/);
    // From JavaScript, submitMinimal's etag when the reply had none: said as such.
    await assert.rejects(client.retry(submitted.id, { ifMatch: null as never }), /^TypeError: ifMatch: an ETag or an operation, not null$/);

    const retried = await client.retry(submitted.id, { ifMatch: cancelled });
    assert.equal(retried.status, 'pending');
    const done = await client.wait(submitted.id, { timeoutMs: 15_000 });
    assert.equal(done.status, 'completed');
    await assert.rejects(client.delete(submitted.id, { ifMatch: retried }), refusedAsStale);
    await client.delete(submitted.id, { ifMatch: done });
    await assert.rejects(client.get(submitted.id), (error: unknown) => error instanceof AsyncOpsApiError && error.status === 404);
  });
});
