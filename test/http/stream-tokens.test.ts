// Stream tokens without a server: what a token opens (one operation's stream, for its tenant and principal, until it
// expires), what it does not (another operation, a forged or altered token), and that a URL carrying one is logged
// without it. The end-to-end and browser tests are in test/e2e/cors.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FastifyRequest } from 'fastify';
import { StreamTokens, STREAM_TOKEN_TTL_MS, safeRequestLogger, withoutStreamToken } from '../../src/http/stream-tokens.ts';

const OP = 'op_01M8VCEYCTYW3QQ421EKPNJQJ0';
const OTHER = 'op_01M8VCETPD9A3HFGAVFBF0QFCN';
const grant = { tenant: 'acme', principal: 'key:0' };

function tokens(secret = Buffer.alloc(32, 7)) {
  let now = 1_800_000_000_000;
  const issuer = new StreamTokens({ secret: async () => secret, clock: { now: () => now } });
  return { issuer, advance: (ms: number) => (now += ms), now: () => now };
}

const reencode = (token: string, edit: (payload: Record<string, unknown>) => void) => {
  const [prefix, body, signature] = token.split('.');
  const payload = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8')) as Record<string, unknown>;
  edit(payload);
  return `${prefix}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${signature}`;
};

describe('StreamTokens', () => {
  it('a token opens its operation for the tenant and principal that asked, and expires after five minutes', async () => {
    const { issuer, advance, now } = tokens();
    const minted = await issuer.mint(grant, OP);
    assert.equal(minted.expiresAt.getTime(), now() + STREAM_TOKEN_TTL_MS);
    assert.equal(STREAM_TOKEN_TTL_MS, 300_000);
    assert.match(minted.token, /^st1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'URL-safe as it is');
    assert.deepEqual(await issuer.verify(minted.token, OP), grant);
    advance(STREAM_TOKEN_TTL_MS - 1);
    assert.deepEqual(await issuer.verify(minted.token, OP), grant);
    advance(1);
    assert.equal(await issuer.verify(minted.token, OP), null, 'expired');
  });

  it('opens no other operation', async () => {
    const { issuer } = tokens();
    const { token } = await issuer.mint(grant, OP);
    assert.equal(await issuer.verify(token, OTHER), null);
  });

  it('refuses a token altered or signed with another key', async () => {
    const { issuer } = tokens();
    const { token } = await issuer.mint(grant, OP);
    assert.equal(
      await issuer.verify(
        reencode(token, (p) => (p.t = 'globex')),
        OP,
      ),
      null,
      'another tenant',
    );
    assert.equal(
      await issuer.verify(
        reencode(token, (p) => (p.e = Number(p.e) + 3_600_000)),
        OP,
      ),
      null,
      'a later expiry',
    );
    assert.equal(
      await issuer.verify(
        reencode(token, (p) => (p.o = OTHER)),
        OTHER,
      ),
      null,
      'another operation',
    );
    const [prefix, body, signature] = token.split('.');
    assert.equal(await issuer.verify(`${prefix}.${body}.${signature!.slice(0, -2)}AA`, OP), null, 'another signature');
    const forger = tokens(Buffer.alloc(32, 8)).issuer;
    assert.equal(await issuer.verify((await forger.mint(grant, OP)).token, OP), null, 'another key');
  });

  it('refuses what is not a token at all', async () => {
    const { issuer } = tokens();
    for (const junk of ['', 'st1', 'st1..', 'st2.a.b', 'st1.a.b.c', `st1.${'a'.repeat(3000)}.b`, 'alpha-key-7Hc2vN9qLm4xW8rT', 'st1.%%%.%%%']) {
      assert.equal(await issuer.verify(junk, OP), null, junk);
    }
  });

  it('reads its key once, and again after a failed read', async () => {
    let fail = true;
    let reads = 0;
    const issuer = new StreamTokens({
      secret: async () => {
        reads++;
        if (fail) throw new Error('store unavailable');
        return Buffer.alloc(32, 1);
      },
      clock: { now: () => 0 },
    });
    await assert.rejects(issuer.mint(grant, OP), /store unavailable/);
    fail = false;
    const { token } = await issuer.mint(grant, OP);
    assert.deepEqual(await issuer.verify(token, OP), grant);
    assert.equal(reads, 2);
  });
});

describe('a URL with a stream token in a log', () => {
  it('keeps the path and other parameters, and loses the token', () => {
    assert.equal(withoutStreamToken(`/operations/${OP}/events?token=st1.abc.def`), `/operations/${OP}/events?token=[REDACTED]`);
    assert.equal(withoutStreamToken(`/operations/${OP}/events?a=1&TOKEN=st1.abc.def&b=2`), `/operations/${OP}/events?a=1&TOKEN=[REDACTED]&b=2`);
    assert.equal(withoutStreamToken(`/operations/${OP}`), `/operations/${OP}`);
  });

  it('is what the HTTP app logger writes for a request', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = safeRequestLogger(pino({ level: 'info' }, sink));
    const request = {
      method: 'GET',
      url: `/operations/${OP}/events?token=st1.secret-part.sig`,
      host: '127.0.0.1:8080',
      ip: '127.0.0.1',
      socket: { remotePort: 5000 },
    };
    logger.info({ req: request as unknown as FastifyRequest }, 'a line that carries the request');
    assert.equal(lines.length, 1);
    assert.doesNotMatch(lines[0]!, /secret-part/);
    assert.equal(JSON.parse(lines[0]!).req.url, `/operations/${OP}/events?token=[REDACTED]`);
  });
});
