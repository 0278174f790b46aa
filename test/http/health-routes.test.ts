// Readiness without a server process: a ping the store holds (a locked table) answers 503 at the deadline, and the
// probes that come meanwhile share that one ping rather than each holding a connection of the pool.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerHealthRoutes } from '../../src/http/health-routes.ts';
import { installProblemHandlers } from '../../src/http/problem.ts';
import { ProblemSchema } from '../../src/http/schemas.ts';

describe('/readyz', () => {
  it('answers 503 when the ping is held past its deadline; probes meanwhile share the ping, and one after it pings again', async () => {
    let pings = 0;
    let answer: () => void = () => {};
    const app = Fastify({ logger: false });
    installProblemHandlers(app);
    app.addSchema(ProblemSchema);
    registerHealthRoutes(app, {
      kind: 'sqlite',
      ping: () => {
        pings++;
        return new Promise<void>((resolve) => (answer = resolve));
      },
    });
    await app.ready();
    try {
      const probes = await Promise.all([app.inject('/readyz'), app.inject('/readyz')]);
      assert.deepEqual(
        probes.map((probe) => [probe.statusCode, probe.json().code]),
        [
          [503, 'store_unavailable'],
          [503, 'store_unavailable'],
        ],
      );
      assert.equal((await app.inject('/readyz')).statusCode, 503);
      assert.equal(pings, 1, 'one ping under way, shared');
      answer();
      const ready = await app.inject('/readyz');
      assert.equal(pings, 2, 'the held ping ended: the next probe pings');
      assert.equal(ready.statusCode, 503, 'that ping is held too');
    } finally {
      await app.close();
    }
  });
});
