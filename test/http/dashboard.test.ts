// The dashboard's HTTP side on an assembled app (inject, no socket): the page and its assets answer without a key
// and hold no data, under a strict Content-Security-Policy whose one script hash is the page's import map; every
// module the page imports is served; a prefix prefixes every link; `dashboard: false` serves none of it. And the
// refusal of state-changing requests from foreign origins (CSRF) that keeps an open, keyless API safe from pages.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { assembleAsyncOps } from '../../src/main.ts';

const KEY = 'dashboard-unit-key-0123456789';

async function appWith(options: Partial<Parameters<typeof assembleAsyncOps>[0]> = {}) {
  const asyncops = await assembleAsyncOps({ store: ':memory:', workers: false, logger: { level: 'silent' }, ...options });
  return { app: asyncops.app!, close: () => asyncops.close() };
}

describe('dashboard routes', () => {
  it('serves the page without a key, with a policy that allows its own scripts and its import map only', async () => {
    const { app, close } = await appWith({ apiKeys: [{ tenant: 'alpha', key: KEY }] });
    try {
      const page = await app.inject({ method: 'GET', url: '/dashboard' });
      assert.equal(page.statusCode, 200, 'open: the page holds no data');
      assert.match(page.headers['content-type'] as string, /^text\/html/);
      const csp = page.headers['content-security-policy'] as string;
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /connect-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      const importMap = /<script type="importmap">(.*?)<\/script>/s.exec(page.body)?.[1];
      assert.ok(importMap !== undefined, 'an import map');
      const hash = createHash('sha256').update(importMap).digest('base64');
      assert.match(csp, new RegExp(`script-src 'self' 'sha256-${hash.replace(/[+/]/g, '\\$&')}'(;|$)`), 'the import map is the one inline script allowed');
      assert.equal((page.body.match(/<script/g) ?? []).length, 2, 'the import map and one module, by URL');
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal((await app.inject({ method: 'GET', url: '/dashboard/' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/operations' })).statusCode, 401, 'the API still needs the key');

      // Every module the page names, and every one they import, is served as JavaScript.
      const specifiers = Object.values(JSON.parse(importMap).imports) as string[];
      const scripts = [...page.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
      const queue = [...specifiers, ...scripts];
      const served = new Set<string>();
      while (queue.length > 0) {
        const url = queue.shift()!;
        if (served.has(url)) continue;
        served.add(url);
        const asset = await app.inject({ method: 'GET', url });
        assert.equal(asset.statusCode, 200, url);
        assert.match(asset.headers['content-type'] as string, url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/, url);
        const etag = asset.headers.etag as string;
        assert.equal((await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } })).statusCode, 304, `${url} revalidates`);
        // Compared weakly, as RFC 9110 asks: the tag a compressing proxy weakened, one of a list, and `*`.
        for (const given of [`W/${etag}`, `"other", ${etag}`, '*']) {
          assert.equal((await app.inject({ method: 'GET', url, headers: { 'if-none-match': given } })).statusCode, 304, `${url}: ${given}`);
        }
        assert.equal((await app.inject({ method: 'GET', url, headers: { 'if-none-match': '"other"' } })).statusCode, 200, `${url}: another tag`);
        for (const m of asset.body.matchAll(/from\s*["'](\.\/[^"']+)["']/g)) queue.push(new URL(m[1]!, `http://x${url}`).pathname);
      }
      assert.ok(served.has('/dashboard/assets/operation.js'), [...served].join(' '));

      const missing = await app.inject({ method: 'GET', url: '/dashboard/assets/..%2Fpackage.json' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'not_found');
    } finally {
      await close();
    }
  });

  it('under a prefix, every link of the page is under it', async () => {
    const { app, close } = await appWith({ prefix: '/async' });
    try {
      const page = await app.inject({ method: 'GET', url: '/async/dashboard' });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<meta name="asyncops-base" content="\/async">/);
      const links = [...page.body.matchAll(/(?:src|href)="(\/[^"]+)"|"(\/[^"]+\.mjs)"/g)].map((m) => m[1] ?? m[2]!);
      assert.ok(links.length >= 7, links.join(' '));
      for (const link of links) assert.ok(link.startsWith('/async/dashboard/assets/'), link);
      assert.equal((await app.inject({ method: 'GET', url: links[0]! })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/dashboard' })).statusCode, 404);
    } finally {
      await close();
    }
  });

  it('dashboard: false (--no-dashboard) serves none of it', async () => {
    const { app, close } = await appWith({ dashboard: false });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/dashboard' })).statusCode, 404);
      assert.equal((await app.inject({ method: 'GET', url: '/dashboard/assets/index.js' })).statusCode, 404);
    } finally {
      await close();
    }
  });
});

describe('cross-origin protection of state-changing requests', () => {
  const cancel = (headers: Record<string, string>) => ({
    method: 'POST' as const,
    url: '/operations/op_missing/cancel',
    headers: { host: 'api.local:8080', ...headers },
  });

  it('refuses a POST a browser sent from another site, and lets same-origin pages, allowed origins and programs through', async () => {
    const { app, close } = await appWith({ corsOrigins: ['https://app.example.com'], apiKeys: [{ tenant: 'alpha', key: KEY }] });
    try {
      const refused = await app.inject(cancel({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }));
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().code, 'forbidden');
      assert.equal((await app.inject(cancel({ origin: 'https://evil.example' }))).statusCode, 403, 'an older browser: Origin alone');
      assert.equal(
        (await app.inject(cancel({ 'sec-fetch-site': 'same-site', origin: 'https://other.api.local' }))).statusCode,
        403,
        'same site is not same origin',
      );
      // Past the check, these reach authentication (401 without a key) or the route (404: no such operation).
      const auth = { authorization: `Bearer ${KEY}` };
      assert.equal((await app.inject(cancel({ ...auth, 'sec-fetch-site': 'same-origin', origin: 'http://api.local:8080' }))).statusCode, 404);
      assert.equal((await app.inject(cancel({ ...auth, origin: 'http://api.local:8080' }))).statusCode, 404, 'Origin matching Host');
      assert.equal((await app.inject(cancel({ ...auth, 'sec-fetch-site': 'cross-site', origin: 'https://app.example.com' }))).statusCode, 404, 'a CORS origin');
      assert.equal((await app.inject(cancel(auth))).statusCode, 404, 'a program: neither header');
      assert.equal((await app.inject(cancel({ 'sec-fetch-site': 'same-origin' }))).statusCode, 401);
      const read = await app.inject({ method: 'GET', url: '/healthz', headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
      assert.equal(read.statusCode, 200, 'reads are not refused (CORS keeps their answers from the page)');
    } finally {
      await close();
    }
  });
});
