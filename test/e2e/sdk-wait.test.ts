// End to end: the SDK's wait() follows a 5-second operation on the real server, and the status requests are counted
// and timed where they arrive — at a counting relay in front of the server — not where the SDK thinks it sent them.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AsyncOpsClient, type Operation } from '../../src/client/index.ts';
import { STORE_INDEPENDENT, startServer, type ServerProcess } from '../support/server.ts';

/** One request as the relay saw it: when it arrived, what it asked for, what the server answered and when. */
interface Arrival {
  method: string;
  path: string;
  /** The N of `Prefer: wait=N`, when the request asked to be held. */
  waitS: number | null;
  arrivedAt: number;
  status?: number;
  /** The server echoed Preference-Applied: it held the request. */
  held?: boolean;
  answeredAt?: number;
}

let server: ServerProcess;
let relay: Server;
let relayUrl: string;
const arrivals: Arrival[] = [];

describe('the SDK against the real server', STORE_INDEPENDENT, () => {
  before(async () => {
    server = await startServer();
    relay = createServer((req, res) => {
      const waitS = /(?:^|[\s,;])wait=(\d+)/.exec(String(req.headers.prefer ?? ''))?.[1];
      const arrival: Arrival = {
        method: req.method ?? '',
        path: req.url ?? '',
        waitS: waitS === undefined ? null : Number(waitS),
        arrivedAt: performance.now(),
      };
      arrivals.push(arrival);
      const upstream = httpRequest(new URL(req.url ?? '/', server.url), { method: req.method, headers: req.headers }, (reply) => {
        arrival.status = reply.statusCode;
        arrival.held = reply.headers['preference-applied'] !== undefined;
        arrival.answeredAt = performance.now();
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      });
      upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  });
  after(async () => {
    relay?.closeAllConnections();
    await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
    await server?.stop();
  });

  /** A held long-poll that the server answered with a change before its wait ran out: the next request may follow at once. */
  function returnedEarly(a: Arrival): boolean {
    return a.waitS !== null && a.held === true && a.status === 200 && a.answeredAt !== undefined && a.answeredAt - a.arrivedAt < a.waitS * 1000;
  }

  describe('SDK wait against the real server', () => {
    it('follows a 5 s operation with progress; the server never sees two status requests within 1 s unless a long-poll returned early', {
      timeout: 60_000,
    }, async (t) => {
      const client = new AsyncOpsClient({ baseUrl: relayUrl });
      // Progress every 1.67 s: some 1 s windows see no change, so the server holds a long-poll there and answers
      // it early when the next step lands (a change every second would answer every request at once).
      const submitted = await client.submit('sleep', { ms: 5000, steps: 3 });
      const seen: Operation[] = [];
      const final = await client.wait(submitted.id, { onProgress: (op) => seen.push(op), timeoutMs: 30_000 });

      assert.equal(final.status, 'completed');
      const progress = seen.filter((op) => op.status === 'processing' && op.progress !== null && op.progress > 0 && op.progress < 1);
      assert.ok(progress.length >= 1, `progress reported along the way: ${seen.map((op) => `${op.status}:${op.progress}`).join(', ')}`);

      const statusRequests = arrivals.filter((a) => a.method === 'GET' && a.path.startsWith(`/operations/${submitted.id}`) && !a.path.includes('/result'));
      const started = statusRequests[0]!.arrivedAt;
      t.diagnostic(
        statusRequests
          .map(
            (a) =>
              `+${Math.round(a.arrivedAt - started)} ms ${a.waitS === null ? 'poll' : `wait=${a.waitS}`} → ${a.status}${a.held ? ` held ${Math.round(a.answeredAt! - a.arrivedAt)} ms` : ''}`,
          )
          .join('; '),
      );
      assert.ok(statusRequests.some(returnedEarly), 'a held long-poll came back early with a change');
      // At most one request a second, plus one immediate follow-up per change a long-poll brought back.
      assert.ok(statusRequests.length <= 10, `${statusRequests.length} status requests`);
      for (let i = 1; i < statusRequests.length; i++) {
        const previous = statusRequests[i - 1]!;
        const gap = statusRequests[i]!.arrivedAt - previous.arrivedAt;
        if (!returnedEarly(previous)) assert.ok(gap >= 1000, `request ${i} came ${gap.toFixed(0)} ms after one that was not a long-poll returning early`);
      }
    });
  });

  describe('the SDK reads the task types', () => {
    it('taskTypes() lists what the server takes, with each input schema', async () => {
      const types = await new AsyncOpsClient({ baseUrl: server.url }).taskTypes();
      const echo = types.find((t) => t.type === 'echo');
      assert.ok(echo, types.map((t) => t.type).join(', '));
      assert.equal(typeof echo.input_schema, 'object');
      assert.ok(types.some((t) => t.type === 'report'));
    });
  });
});
