// The per-request logger made on first use: the lines it writes carry the request's bindings, and it makes no child
// until something logs.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { lazyChildLogger } from '../../src/http/request-logger.ts';

function capture(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const logger = pino({ level: 'info', redact: ['secret'] }, stream);
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
  };
}

describe('lazyChildLogger', () => {
  it('writes with the bindings and the parent redaction, and makes its child only when it logs', () => {
    const { logger, lines } = capture();
    let made = 0;
    const child = (...args: Parameters<pino.Logger['child']>) => {
      made++;
      return logger.child(...args);
    };
    const parent = Object.assign(Object.create(logger), { child });
    const log = lazyChildLogger(parent, { reqId: 'req-1' }, {});
    assert.equal(log.level, 'info');
    log.debug('below the level');
    assert.equal(made, 1, 'a call below the level makes the child too, once');
    log.info({ secret: 'x', n: 1 }, 'hello');
    log.warn('again');
    assert.equal(made, 1);
    const [hello, again] = lines();
    assert.deepEqual([hello?.reqId, hello?.msg, hello?.secret, hello?.n], ['req-1', 'hello', '[Redacted]', 1]);
    assert.equal(again?.reqId, 'req-1');
    const unused = lazyChildLogger(parent, { reqId: 'req-2' }, { level: 'warn' });
    assert.equal(unused.level, 'warn', 'the level the route asks for, without making the child');
    assert.equal(made, 1);
  });

  it('is what a Fastify request carries: its lines have the request id', async () => {
    const { logger, lines } = capture();
    const app = Fastify({ loggerInstance: logger, disableRequestLogging: true, childLoggerFactory: lazyChildLogger });
    app.get('/', async (request) => {
      request.log.info('from the route');
      return { ok: true };
    });
    const reply = await app.inject({ method: 'GET', url: '/' });
    await app.close();
    assert.equal(reply.statusCode, 200);
    const line = lines().find((l) => l.msg === 'from the route');
    assert.equal(typeof line?.reqId, 'string');
  });
});
