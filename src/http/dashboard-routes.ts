// Owns: the web dashboard's HTTP side: GET /dashboard (the page) and GET /dashboard/assets/{name} (its modules and
// styles from src/dashboard/, and Preact, htm and uPlot as their installed packages ship them), with a strict
// Content-Security-Policy. Not here: the page's code (src/dashboard/), the API it reads (every other route), turning
// it off (main.ts: `dashboard: false`, the CLI's --no-dashboard).
// Invariant: serves only the files listed at registration, read once; holds no data, so it answers without a key
// (auth.ts's OPEN_PREFIXES); no inline script runs but the import map, which the policy names by its hash.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { AsyncOpsError } from '../domain/errors.ts';

/** Where the page's own files are: src/dashboard in a checkout, dist/dashboard in a package (`npm run build` copies them). */
const DASHBOARD_DIR = new URL('../dashboard/', import.meta.url);

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The libraries, by the names the page imports them under (its import map) and the file each package ships. */
const VENDOR: ReadonlyArray<{ readonly specifier: string | null; readonly name: string; readonly file: () => string }> = [
  { specifier: 'preact', name: 'preact.mjs', file: () => fileURLToPath(import.meta.resolve('preact')) },
  { specifier: 'preact/hooks', name: 'preact-hooks.mjs', file: () => fileURLToPath(import.meta.resolve('preact/hooks')) },
  { specifier: 'htm', name: 'htm.mjs', file: () => fileURLToPath(import.meta.resolve('htm')) },
  // uPlot's package has no exports map; its main is CommonJS, so the ES module is named by its path.
  { specifier: 'uplot', name: 'uplot.mjs', file: () => fileURLToPath(import.meta.resolve('uplot/dist/uPlot.esm.js')) },
  { specifier: null, name: 'uplot.css', file: () => fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')) },
];

const AssetParams = Type.Object({ name: Type.String({ maxLength: 100 }) });

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Every file the dashboard serves, by name: read now, so a request never touches the disk or a path it names. */
function readAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(DASHBOARD_DIR)) {
    if (name.endsWith('.js')) assets.set(name, asset(readFileSync(new URL(name, DASHBOARD_DIR)), JS));
    else if (name.endsWith('.css')) assets.set(name, asset(readFileSync(new URL(name, DASHBOARD_DIR)), CSS));
  }
  // Source maps would be asked for by a browser's developer tools only, and are not served: the comment goes.
  for (const v of VENDOR) {
    const text = readFileSync(v.file(), 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
    assets.set(v.name, asset(Buffer.from(text), v.name.endsWith('.css') ? CSS : JS));
  }
  return assets;
}

const escapeAttribute = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/</g, '&lt;');

/** The page and the policy it is served with: the import map is its only inline script, allowed by its hash. */
function page(basePath: string, keysRequired: boolean): { html: string; csp: string } {
  const assets = `${basePath}/dashboard/assets/`;
  const imports = Object.fromEntries(VENDOR.filter((v) => v.specifier !== null).map((v) => [v.specifier, assets + v.name]));
  const importMap = JSON.stringify({ imports });
  const hash = createHash('sha256').update(importMap).digest('base64');
  const at = escapeAttribute(assets);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="asyncops-base" content="${escapeAttribute(basePath)}">
<meta name="asyncops-keys" content="${keysRequired ? 'required' : 'none'}">
<title>asyncops dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${at}uplot.css">
<link rel="stylesheet" href="${at}dashboard.css">
<script type="importmap">${importMap}</script>
<script type="module" src="${at}index.js"></script>
</head>
<body>
<div id="app"><p class="loading">Loading the dashboard…</p></div>
<noscript>The asyncops dashboard needs JavaScript.</noscript>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}

/** Headers of every dashboard answer: nothing else may run in it, frame it or learn where it was. */
function secure(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header('content-security-policy', csp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}

function sendAsset(request: FastifyRequest, reply: FastifyReply, file: Asset, csp: string): FastifyReply {
  secure(reply, csp).header('etag', file.etag);
  if (namesTag(request.headers['if-none-match'], file.etag)) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

/**
 * Whether an If-None-Match names `etag` by the weak comparison RFC 9110 §13.1.2 asks of it: `*`, or `etag` in its list
 * with or without `W/` (a proxy that compresses an answer weakens its tag).
 */
function namesTag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || tag.trim().replace(/^W\//, '') === opaque);
}

const hidden = { hide: true, tags: ['dashboard'] };

/**
 * `keysRequired`: the API takes requests only with a key, which the page then asks for before anything else (a probe
 * without one would be a 401 the browser logs as an error).
 */
export function registerDashboardRoutes(app: FastifyInstance, options: { readonly keysRequired?: boolean } = {}): void {
  const assets = readAssets();
  const { html, csp } = page(app.prefix, options.keysRequired === true);
  const index = asset(Buffer.from(html), 'text/html; charset=utf-8');
  // Hidden from the OpenAPI document: a web page, not part of the API.
  const pageRoute = { schema: hidden, handler: (request: FastifyRequest, reply: FastifyReply) => sendAsset(request, reply, index, csp) };
  app.get('/dashboard', pageRoute);
  app.get('/dashboard/', pageRoute);
  app.get<{ Params: Static<typeof AssetParams> }>('/dashboard/assets/:name', {
    schema: { ...hidden, params: AssetParams },
    handler: (request, reply) => {
      const file = assets.get(request.params.name);
      if (file === undefined) throw new AsyncOpsError('not_found', `no dashboard asset named ${request.params.name}`);
      return sendAsset(request, reply, file, csp);
    },
  });
}
