// examples/webhook-receiver.ts, run as a user runs it: a real asyncops server signs the webhook of an operation that
// ends, the receiver verifies it with the SDK and prints the typed event; a forged request is refused with 401.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createAsyncOps, defineTask, type AsyncOps } from '../../src/index.ts';
import { generateWebhookSecret, signWebhook } from '../../src/client/index.ts';
import { startExample, type ExampleProcess } from '../support/example-process.ts';
import { waitFor } from '../support/wait.ts';

const secret = generateWebhookSecret();
let receiver: ExampleProcess;
let server: AsyncOps;
let serverUrl: string;

before(async () => {
  // As `asyncops webhook-secret` prints them during a rotation (the newest first), read with a newline.
  receiver = await startExample('webhook-receiver.ts', { PORT: '0', WEBHOOK_SECRET: `${generateWebhookSecret()} ${secret}\n` });
  const double = defineTask<{ n: number }>({ type: 'double', run: (input) => ({ doubled: input.n * 2 }) });
  server = await createAsyncOps({
    store: ':memory:',
    tasks: [double],
    builtInTasks: false,
    webhookSecrets: [secret],
    allowPrivateWebhooks: true,
    logger: { level: 'silent' },
  });
  serverUrl = await server.listen({ port: 0 });
});
after(async () => {
  await server?.close();
  await receiver?.stop();
});

describe('examples/webhook-receiver.ts', () => {
  it('receives the signed webhook of an operation that ended and prints its verified event', async () => {
    const operation = await server.submit('double', { n: 21 }, { webhookUrl: receiver.url });
    const line = await waitFor(
      () =>
        receiver
          .output()
          .split('\n')
          .find((l) => l.includes(operation.id)),
      { timeoutMs: 20_000 },
    );
    const event = JSON.parse(line);
    assert.equal(event.type, 'operation.completed');
    assert.equal(event.outcome, `/operations/${operation.id}/result`);
    assert.match(event.webhook_id, /^msg_/);
    assert.ok(serverUrl.startsWith('http://127.0.0.1:'));
  });

  it('refuses a request signed with another secret (401: the sender retries it) and one with no signature', async () => {
    const body = JSON.stringify({ type: 'operation.completed', operation_id: 'op_forged' });
    const forged = await signWebhook({ secrets: [generateWebhookSecret()], msgId: 'msg_forged', timestamp: Math.floor(Date.now() / 1000), body });
    const refused = await fetch(receiver.url, { method: 'POST', headers: { ...forged, 'content-type': 'application/json' }, body });
    assert.equal(refused.status, 401);
    assert.equal(await refused.text(), 'no matching signature');
    assert.equal((await fetch(receiver.url, { method: 'POST', body })).status, 401);
    assert.ok(!receiver.output().includes('op_forged'));
  });

  it('stays up when a client goes away in the middle of its body', async () => {
    const { port, hostname } = new URL(receiver.url);
    for (let i = 0; i < 3; i++) {
      const socket = connect(Number(port), hostname);
      await once(socket, 'connect');
      socket.write(`POST /hooks HTTP/1.1\r\nHost: ${hostname}\r\nContent-Length: 100\r\n\r\n0123456789`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      socket.resetAndDestroy();
    }
    await waitFor(() => receiver.output().includes('webhook receiver: aborted'), { timeoutMs: 5_000, what: 'the abort logged' });
    assert.equal((await fetch(receiver.url, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) })).status, 401, 'still answering');
  });
});
