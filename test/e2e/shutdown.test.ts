// End to end on the real server process: SIGTERM ends open event streams and answers held long-polls at once,
// so the process exits promptly instead of waiting for its clients to give up.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../support/server.ts';
import { request } from '../support/http.ts';
import { waitFor } from '../support/wait.ts';

let server: ServerProcess;
let base: string;

before(async () => {
  server = await startServer();
  base = server.url;
});
after(async () => {
  await server?.stop();
});

/** Reads an event stream in the background: its text so far, and whether the server ended it. */
async function openStream(path: string): Promise<{ text(): string; ended(): boolean }> {
  const response = await fetch(base + path, { signal: AbortSignal.timeout(30_000) });
  assert.equal(response.status, 200);
  let text = '';
  let ended = false;
  void (async () => {
    try {
      for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) text += chunk;
      ended = true;
    } catch {
      // Aborted by the timeout: `ended` stays false and the test says so.
    }
  })();
  return { text: () => text, ended: () => ended };
}

describe('shutdown', () => {
  it('SIGTERM with an event stream, a long-poll and a Prefer: wait open exits within seconds, ending and answering each', async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const pending = await request(base, 'POST', '/operations', { body: { type: 'sleep', input: { ms: 10 }, run_at: later } });
    assert.equal(pending.status, 202);
    const id = pending.body.id as string;

    const longPoll = request(base, 'GET', `/operations/${id}`, { headers: { 'if-none-match': pending.headers.get('etag')!, prefer: 'wait=30' } });
    const submitWait = { body: { type: 'sleep', input: { ms: 10 }, run_at: later }, headers: { prefer: 'wait=30', 'idempotency-key': 'shutdown-held' } };
    const heldSubmit = request(base, 'POST', '/operations', submitWait);
    // Awaited below; marked handled so a failure before then is reported by the assertion that failed, not as a stray rejection.
    for (const held of [longPoll, heldSubmit]) held.catch(() => {});
    // A probe with the key sent before the held submit reached the server would take the key itself and be the one held
    // (for 30 s): probe once the held submit's operation is stored, when the key is its own.
    await waitFor(async () => ((await request(base, 'GET', '/operations?q=shutdown-held')).body.items as unknown[]).length === 1, {
      what: 'the Prefer: wait submit stored its operation',
    });
    // The key is in use for as long as the first request is held: proof that it is.
    await waitFor(async () => (await request(base, 'POST', '/operations', submitWait)).status === 409, { what: 'the Prefer: wait submit is held' });
    const stream = await openStream(`/operations/${id}/events`);
    await waitFor(() => stream.text().includes('event: status'), { what: 'the stream sent the current state' });

    // stop() kills what has not exited 15 s after SIGTERM: well before the 30 s the held requests asked for.
    await server.stop();
    assert.equal(server.process.signalCode, null, 'exited on its own, not killed after the bound');
    assert.equal(server.process.exitCode, 0);

    await waitFor(() => stream.ended(), { what: 'the server ended the event stream' });
    assert.match(stream.text(), /: shutting down\n\n$/);
    const polled = await longPoll;
    assert.equal(polled.status, 304, 'the long-poll is answered as at its timeout: unchanged');
    const submitted = await heldSubmit;
    assert.equal(submitted.status, 202);
    assert.equal(submitted.body.status, 'pending');
  });
});
