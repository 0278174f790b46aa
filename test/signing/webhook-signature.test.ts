// Standard Webhooks signing: the published test vector and the reference libraries' cases, for the one implementation
// the server and the SDK share.

import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateWebhookSecret, signWebhook, tenantWebhookSecret, verifyWebhook, WebhookVerificationError } from '../../src/signing/webhook-signature.ts';
import { tenantSecrets } from '../../src/webhooks/tenant-secrets.ts';

// The published Standard Webhooks test vector (the reference libraries' own tests use it).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  msgId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const atVector = { now: () => VECTOR.timestamp * 1000 };

function vectorHeaders(overrides: Record<string, string> = {}): Record<string, string> {
  return { 'webhook-id': VECTOR.msgId, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature, ...overrides };
}

async function rejects(fn: () => Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => err instanceof WebhookVerificationError && message.test(err.message));
}

describe('signWebhook', () => {
  it('reproduces the Standard Webhooks test vector', async () => {
    const headers = await signWebhook({ secrets: [VECTOR.secret], msgId: VECTOR.msgId, timestamp: VECTOR.timestamp, body: VECTOR.body });
    assert.deepEqual(headers, vectorHeaders());
  });

  it('signs "id.timestamp.body" with the base64-decoded secret, as an independent HMAC computes it', async () => {
    const secret = generateWebhookSecret();
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update('msg_1.1700000000.{"a":1}').digest('base64');
    const headers = await signWebhook({ secrets: [secret], msgId: 'msg_1', timestamp: 1700000000, body: '{"a":1}' });
    assert.equal(headers['webhook-signature'], `v1,${expected}`);
    // One secret alone may be given as a string, as verifyWebhook takes it.
    assert.deepEqual(await signWebhook({ secrets: secret, msgId: 'msg_1', timestamp: 1700000000, body: '{"a":1}' }), headers);
  });

  it('puts one v1 signature per secret, space-separated, for rotation', async () => {
    const other = generateWebhookSecret();
    const headers = await signWebhook({ secrets: [VECTOR.secret, other], msgId: VECTOR.msgId, timestamp: VECTOR.timestamp, body: VECTOR.body });
    const parts = headers['webhook-signature'].split(' ');
    assert.equal(parts.length, 2);
    assert.equal(parts[0], VECTOR.signature);
    assert.match(parts[1]!, /^v1,[A-Za-z0-9+/]+=*$/);
    assert.notEqual(parts[1], parts[0]);
  });

  it('refuses a malformed secret and an empty secret list', async () => {
    await assert.rejects(() => signWebhook({ secrets: ['whsec_not base64!'], msgId: 'm', timestamp: 1, body: '' }), TypeError);
    await assert.rejects(() => signWebhook({ secrets: [], msgId: 'm', timestamp: 1, body: '' }), TypeError);
  });
});

describe('verifyWebhook', () => {
  it('accepts the test vector and returns the parsed payload', async () => {
    assert.deepEqual(await verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, atVector), { test: 2432232314 });
  });

  it('accepts a Buffer body, a Fetch Headers object and header names in any case', async () => {
    const headers = new Headers(vectorHeaders());
    assert.deepEqual(await verifyWebhook(VECTOR.secret, headers, Buffer.from(VECTOR.body), atVector), { test: 2432232314 });
    const upper = { 'Webhook-Id': VECTOR.msgId, 'WEBHOOK-TIMESTAMP': String(VECTOR.timestamp), 'Webhook-Signature': VECTOR.signature };
    assert.deepEqual(await verifyWebhook(VECTOR.secret, upper, VECTOR.body, atVector), { test: 2432232314 });
  });

  it("accepts headers of another realm's Headers class (a page's iframe): read through their get", async () => {
    const entries = new Map(Object.entries(vectorHeaders()));
    const foreign = { get: (name: string) => entries.get(name) ?? null };
    assert.deepEqual(await verifyWebhook(VECTOR.secret, foreign as unknown as Headers, VECTOR.body, atVector), { test: 2432232314 });
  });

  it('says Web Crypto is missing (a browser page that is not secure) rather than failing inside it', async (t) => {
    const own = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
    Object.defineProperty(globalThis, 'crypto', { value: { getRandomValues: crypto.getRandomValues.bind(crypto) }, configurable: true });
    t.after(() => Object.defineProperty(globalThis, 'crypto', own));
    const missing = (e: unknown) =>
      e instanceof TypeError && /^Web Crypto \(crypto.subtle\) is not available here: .*secure pages \(https, or localhost\)$/.test(e.message);
    const secret = generateWebhookSecret();
    await assert.rejects(signWebhook({ secrets: [secret], msgId: 'm', timestamp: 1, body: '{}' }), missing);
    await assert.rejects(verifyWebhook(secret, vectorHeaders(), VECTOR.body, atVector), missing);
    await assert.rejects(tenantWebhookSecret(secret, 'acme'), missing);
  });

  it('accepts the secret without its whsec_ prefix, as the reference libraries do', async () => {
    assert.ok(await verifyWebhook(VECTOR.secret.slice('whsec_'.length), vectorHeaders(), VECTOR.body, atVector));
  });

  it('accepts when any offered signature matches any of several secrets, and skips other versions', async () => {
    const signature = `v1a,${VECTOR.signature.slice(3)} v1,bm9wZQ== ${VECTOR.signature}`;
    const secrets = [generateWebhookSecret(), VECTOR.secret];
    assert.ok(await verifyWebhook(secrets, vectorHeaders({ 'webhook-signature': signature }), VECTOR.body, atVector));
  });

  it('reads a string of several secrets, separated by spaces, commas or newlines, as a list; one of none is a TypeError', async () => {
    const other = generateWebhookSecret();
    for (const secrets of [`${other} ${VECTOR.secret}`, `${other},${VECTOR.secret}\n`, `\n${VECTOR.secret}\n`, `${other}, ${VECTOR.secret}`]) {
      assert.ok(await verifyWebhook(secrets, vectorHeaders(), VECTOR.body, atVector), JSON.stringify(secrets));
    }
    const signed = await signWebhook({ secrets: `${VECTOR.secret} ${other}`, msgId: VECTOR.msgId, timestamp: VECTOR.timestamp, body: VECTOR.body });
    assert.equal(signed['webhook-signature'].split(' ').length, 2);
    assert.equal(signed['webhook-signature'].split(' ')[0], VECTOR.signature);
    await assert.rejects(() => verifyWebhook(' \n', vectorHeaders(), VECTOR.body, atVector), {
      name: 'TypeError',
      message: 'at least one webhook secret is needed to verify',
    });
    await assert.rejects(() => signWebhook({ secrets: '', msgId: 'm', timestamp: 1, body: '' }), TypeError);
  });

  it('round-trips with signWebhook under the default clock', async () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'operation.completed', n: 1 });
    const headers = await signWebhook({ secrets: [secret], msgId: 'msg_x', timestamp: Math.floor(Date.now() / 1000), body });
    assert.deepEqual(await verifyWebhook(secret, headers, body), { type: 'operation.completed', n: 1 });
  });

  it('refuses a tampered body, a tampered id and a wrong secret', async () => {
    await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), '{"test": 2432232315}', atVector), /no matching signature/);
    await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-id': 'msg_other' }), VECTOR.body, atVector), /no matching signature/);
    await rejects(() => verifyWebhook(generateWebhookSecret(), vectorHeaders(), VECTOR.body, atVector), /no matching signature/);
  });

  it('refuses a signature moved to another timestamp', async () => {
    const headers = vectorHeaders({ 'webhook-timestamp': String(VECTOR.timestamp + 1) });
    await rejects(() => verifyWebhook(VECTOR.secret, headers, VECTOR.body, atVector), /no matching signature/);
  });

  it('enforces the tolerance both ways, 300 s by default and configurable', async () => {
    const at = (offsetS: number) => ({ now: () => (VECTOR.timestamp + offsetS) * 1000 });
    assert.ok(await verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, at(300)));
    assert.ok(await verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, at(-300)));
    await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, at(301)), /more than 300 s old/);
    await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, at(-301)), /in the future/);
    await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { ...at(61), toleranceS: 60 }), /more than 60 s old/);
  });

  it('refuses a tolerance or a clock that would turn the timestamp check off, with a TypeError', async () => {
    const aYearLate = { now: () => (VECTOR.timestamp + 365 * 86_400) * 1000 };
    for (const toleranceS of [Number.NaN, -1, Number.POSITIVE_INFINITY, '300' as unknown as number]) {
      await assert.rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { ...aYearLate, toleranceS }), TypeError, String(toleranceS));
    }
    await assert.rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { now: () => Number.NaN }), /now\(\) must return milliseconds/);
    // From JavaScript: a time where a clock is asked for.
    for (const now of [new Date(VECTOR.timestamp * 1000), VECTOR.timestamp * 1000]) {
      await assert.rejects(
        () => verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { now: now as unknown as () => number }),
        (e: unknown) => e instanceof TypeError && /^now must be a function returning milliseconds since the epoch, like Date.now/.test(e.message),
      );
    }
    assert.ok(await verifyWebhook(VECTOR.secret, vectorHeaders(), VECTOR.body, { now: () => VECTOR.timestamp * 1000, toleranceS: 0 }));
  });

  it('names the missing headers', async () => {
    await rejects(() => verifyWebhook(VECTOR.secret, {}, VECTOR.body, atVector), /missing header: webhook-id, webhook-timestamp, webhook-signature/);
    const { 'webhook-signature': _omitted, ...rest } = vectorHeaders();
    await rejects(() => verifyWebhook(VECTOR.secret, rest, VECTOR.body, atVector), /missing header: webhook-signature$/);
  });

  it('refuses a timestamp that is not unix seconds', async () => {
    for (const bad of ['soon', '1614265330.5', '-1', '1e9']) {
      await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-timestamp': bad }), VECTOR.body, atVector), /not unix seconds/);
    }
  });

  it('refuses a cut-short or empty signature, as the reference suite does', async () => {
    for (const partial of [VECTOR.signature.slice(0, 8), 'v1,', VECTOR.signature.slice(0, -4)]) {
      await rejects(() => verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-signature': partial }), VECTOR.body, atVector), /no matching signature/);
    }
  });

  it('refuses a header of garbage signatures without throwing anything else', async () => {
    await rejects(
      () => verifyWebhook(VECTOR.secret, vectorHeaders({ 'webhook-signature': 'v1 v1, ,,, v1,*** v2,abc' }), VECTOR.body, atVector),
      /no matching signature/,
    );
  });
});

describe('generateWebhookSecret', () => {
  it('is whsec_ and the base64 of 32 random bytes, different each time', async () => {
    const a = generateWebhookSecret();
    assert.match(a, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(Buffer.from(a.slice(6), 'base64').length, 32);
    assert.notEqual(a, generateWebhookSecret());
  });

  it('uses the injected randomness', async () => {
    assert.equal(
      generateWebhookSecret((n) => new Uint8Array(n)),
      `whsec_${Buffer.alloc(32).toString('base64')}`,
    );
  });
});

describe('tenantWebhookSecret', () => {
  const server = generateWebhookSecret();

  it('is HMAC-SHA256 of the tenant name under the server secret, as whsec_ base64, the same at every call', async () => {
    const expected = `whsec_${createHmac('sha256', Buffer.from(server.slice('whsec_'.length), 'base64'))
      .update('asyncops webhook secret of tenant\u001facme')
      .digest('base64')}`;
    assert.equal(await tenantWebhookSecret(server, 'acme'), expected);
    assert.equal(await tenantWebhookSecret(server, 'acme'), expected);
  });

  it('differs between tenants and between server secrets, and signs what the tenant verifies', async () => {
    const acme = await tenantWebhookSecret(server, 'acme');
    assert.notEqual(await tenantWebhookSecret(server, 'globex'), acme);
    assert.notEqual(await tenantWebhookSecret(generateWebhookSecret(), 'acme'), acme);
    const body = JSON.stringify({ type: 'operation.completed' });
    const headers = await signWebhook({ secrets: [acme], msgId: 'msg_1', timestamp: Math.floor(Date.now() / 1000), body });
    assert.deepEqual(await verifyWebhook(acme, headers, body), { type: 'operation.completed' });
    await assert.rejects(verifyWebhook(await tenantWebhookSecret(server, 'globex'), headers, body), WebhookVerificationError);
    await assert.rejects(verifyWebhook(server, headers, body), WebhookVerificationError);
  });

  it('refuses a malformed server secret', async () => {
    await assert.rejects(tenantWebhookSecret('whsec_short', 'acme'), TypeError);
  });
});

describe('tenantSecrets', () => {
  it("keeps the server's own secrets for the tenant default, in order, and derives each for any other", async () => {
    const secrets = [generateWebhookSecret(), generateWebhookSecret()];
    assert.deepEqual(await tenantSecrets(secrets, 'default'), secrets);
    assert.deepEqual(await tenantSecrets(secrets, 'acme'), await Promise.all(secrets.map((s) => tenantWebhookSecret(s, 'acme'))));
  });
});
