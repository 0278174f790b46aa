// End to end on the real server process: a stream token belongs to the key that minted it. Once that key is no longer
// configured (the server restarted without it) the token opens nothing, and a key's principal (what its streams count
// against, who asked for a bulk action) stays its own whatever keys are removed around it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freshStore, startServer, tempDir } from '../support/server.ts';
import { writeTenantsAndAdminKeys } from '../support/keys-file.ts';
import { request } from '../support/http.ts';

const KEY = `acme_${randomBytes(12).toString('hex')}`;
const REVOKED = `acme_${randomBytes(12).toString('hex')}`;
const OTHER = `globex_${randomBytes(12).toString('hex')}`;
const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe('stream tokens and removed keys', () => {
  it("an admin key's token opens the stream of another tenant's operation, as its key does", async () => {
    const dir = tempDir();
    const keys = {
      alpha: `alpha_${randomBytes(12).toString('hex')}`,
      beta: `beta_${randomBytes(12).toString('hex')}`,
      admin: `ops_${randomBytes(12).toString('hex')}`,
    };
    const server = await startServer({ args: ['--api-keys-file', writeTenantsAndAdminKeys(dir.path, keys)] });
    try {
      const created = await request(server.url, 'POST', '/operations', { headers: as(keys.alpha), body: { type: 'echo', input: {} } });
      const minted = await request(server.url, 'POST', `/operations/${created.body.id}/stream-token`, { headers: as(keys.admin) });
      assert.equal(minted.status, 200);
      const stream = await fetch(`${server.url}/operations/${created.body.id}/events?token=${encodeURIComponent(minted.body.token)}`, {
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(stream.status, 200);
      await stream.body?.cancel();
      // Given twice, without a key: the 400 a key's request gets, naming it, not a 401 saying no key was sent.
      const token = encodeURIComponent(minted.body.token);
      const twice = await request(server.url, 'GET', `/operations/${created.body.id}/events?token=${token}&token=${token}`);
      assert.equal(twice.status, 400, twice.text);
      assert.deepEqual(twice.body.errors, [{ path: '/query/token', message: 'must be given once' }]);
      const theirs = await request(server.url, 'POST', `/operations/${created.body.id}/stream-token`, { headers: as(keys.beta) });
      assert.equal(theirs.status, 404, 'another tenant key gets none');
    } finally {
      await server.stop();
      dir.cleanup();
    }
  });

  it("a removed key's token is refused; a kept key's token and principal are unchanged", async () => {
    const store = freshStore();
    try {
      const before = await startServer({ store: store.spec, env: { ASYNCOPS_API_KEYS: `acme:${REVOKED},acme:${KEY},globex:${OTHER}` } });
      let tokens: { revoked: string; kept: string };
      let id: string;
      let keptBy: string;
      try {
        const created = await request(before.url, 'POST', '/operations', {
          headers: as(KEY),
          body: { type: 'sleep', input: {}, run_at: new Date(Date.now() + 3_600_000).toISOString() },
        });
        assert.equal(created.status, 202);
        id = created.body.id;
        const mint = async (key: string) => (await request(before.url, 'POST', `/operations/${id}/stream-token`, { headers: as(key) })).body.token as string;
        tokens = { revoked: await mint(REVOKED), kept: await mint(KEY) };
        keptBy = (
          await request(before.url, 'POST', '/bulk-actions', { headers: as(KEY), body: { action: 'cancel', filter: { type: 'nothing' }, dry_run: false } })
        ).body.created_by;
      } finally {
        await before.stop();
      }
      // The first key removed: every key after it would have moved up a place.
      const after = await startServer({
        store: store.spec,
        env: { ASYNCOPS_API_KEYS: `acme:${KEY},globex:${OTHER}` },
        args: ['--max-sse-per-key', '1'],
      });
      try {
        const stream = (token: string) =>
          fetch(`${after.url}/operations/${id}/events?token=${encodeURIComponent(token)}`, { signal: AbortSignal.timeout(10_000) });
        const refused = await stream(tokens.revoked);
        await refused.body?.cancel();
        assert.equal(refused.status, 401, 'the removed key’s token opens nothing');
        assert.match(refused.headers.get('www-authenticate') ?? '', /invalid_token/);
        const opened = await stream(tokens.kept);
        assert.equal(opened.status, 200, 'the kept key’s token still opens its stream');
        try {
          // The kept key's open stream counts against it alone: the other tenant's key may open its first.
          const own = await request(after.url, 'POST', '/operations', {
            headers: as(OTHER),
            body: { type: 'sleep', input: {}, run_at: new Date(Date.now() + 3_600_000).toISOString() },
          });
          const theirs = await fetch(`${after.url}/operations/${own.body.id}/events`, { headers: as(OTHER), signal: AbortSignal.timeout(10_000) });
          assert.equal(theirs.status, 200);
          await theirs.body?.cancel();
          const again = await request(after.url, 'POST', '/bulk-actions', {
            headers: as(KEY),
            body: { action: 'cancel', filter: { type: 'nothing' }, dry_run: false },
          });
          assert.equal(again.body.created_by, keptBy, 'a key is the same principal after the keys around it changed');
        } finally {
          await opened.body?.cancel();
        }
      } finally {
        await after.stop();
      }
    } finally {
      await store.cleanup();
    }
  });
});
