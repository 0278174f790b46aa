// Layering, enforced: every import under src/ (static, dynamic, type-only, re-export) is checked against one table of
// which part may use which, and each one that breaks it is reported as "file → import (rule)".
// A type import counts: it ties the importer to the other part's shape as much as a value import does.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** A part of src/, by where its files are; `package.json` is the one file outside src/ a part may import. */
type Part =
  | 'domain'
  | 'config'
  | 'scheduling'
  | 'signing'
  | 'json'
  | 'telemetry'
  | 'store'
  | 'runtime'
  | 'webhooks'
  | 'tasks'
  | 'http'
  | 'client'
  | 'cli'
  | 'cli/server'
  | 'cli entry'
  | 'main'
  | 'embed'
  | 'index'
  | 'package.json';

interface Rule {
  /** The parts it may import besides itself; `*`: any. */
  readonly may: readonly Part[] | '*';
  /** Packages and built-ins it may import (a name, or a prefix ending in `:`); `*`: any. */
  readonly external: readonly string[] | '*';
  readonly why: string;
}

const RULES: Readonly<Record<Exclude<Part, 'package.json'>, Rule>> = {
  domain: {
    may: ['json'],
    external: ['node:crypto', 'croner'],
    why: 'decides: pure rules, nothing of ours but what JSON keeps, and no I/O (crypto makes ids; randomness is not I/O; croner computes cron ticks)',
  },
  signing: {
    may: [],
    external: [],
    why: 'Standard Webhooks signing, shared by the server and the SDK: nothing of the server, and no `node:` module (Web Crypto), so the SDK runs anywhere',
  },
  json: {
    may: [],
    external: [],
    why: 'what JSON keeps of a value, shared by the server and the SDK: nothing of the server, no `node:` module, so the SDK runs anywhere',
  },
  telemetry: {
    may: ['domain', 'package.json'],
    external: '*',
    why: 'spans through the OpenTelemetry API and the SDK loaded on demand (package.json: the tracer names the version); knows no layer but the domain',
  },
  config: { may: ['domain'], external: [], why: 'settings and limits every layer may read: it must depend on no layer but the domain' },
  scheduling: { may: ['domain'], external: [], why: 'the claim loop and timers runtime and webhooks share: mechanism without rules of its own' },
  store: { may: ['domain', 'config'], external: '*', why: 'persists what the domain defines; knows no service above it' },
  runtime: { may: ['store', 'domain', 'scheduling', 'config', 'telemetry'], external: '*', why: 'runs tasks on the store; knows no edge' },
  webhooks: {
    may: ['store', 'domain', 'scheduling', 'config', 'signing', 'telemetry', 'package.json'],
    external: '*',
    why: 'delivers from the store (package.json: the User-Agent names the version); knows no edge',
  },
  tasks: { may: ['runtime', 'domain', 'config'], external: '*', why: 'the built-in tasks use the task API, as a user task module does' },
  http: {
    may: ['runtime', 'webhooks', 'domain', 'json', 'config', 'telemetry'],
    external: '*',
    why: 'an edge: translates HTTP to the services, never reaches past them to the store',
  },
  client: {
    may: ['signing', 'json'],
    external: [],
    why: 'the SDK knows only the HTTP contract (and signing, and what JSON keeps): nothing of the server, no dependencies, no `node:` module (it runs in browsers, Deno, Bun)',
  },
  cli: {
    may: ['client', 'signing', 'config', 'package.json'],
    external: '*',
    why: 'client commands and their helpers talk to a server through the SDK (and `listen` checks signatures)',
  },
  'cli/server': {
    may: ['main', 'config', 'signing', 'cli'],
    external: '*',
    why: 'server commands start or read a server through the composition root, never its parts',
  },
  'cli entry': {
    may: ['cli', 'cli/server'],
    external: '*',
    why: 'the CLI entry registers client and server commands; the server commands load the server only when run',
  },
  main: { may: '*', external: '*', why: 'the composition root: the one file that knows every part' },
  embed: {
    may: ['main', 'config'],
    external: '*',
    why: "the package's face over the composition root: it reaches the parts only through main.ts",
  },
  index: {
    may: ['embed', 'main', 'domain', 'runtime'],
    external: '*',
    why: "the package's public API: what an embedder writes against, never a store or service",
  },
};

function partOf(file: string): Part | null {
  if (file === 'main.ts') return 'main';
  if (file === 'index.ts') return 'index';
  if (file === 'embed.ts') return 'embed';
  if (file === 'cli/main.ts') return 'cli entry';
  if (file.startsWith('cli/server/')) return 'cli/server';
  const top = file.split('/')[0]!;
  return top in RULES ? (top as Part) : null;
}

/** What an import names: a file of src/ (relative to it), package.json, or an external package. */
function target(file: string, specifier: string): { internal: string } | { external: string } {
  if (!specifier.startsWith('.')) return { external: specifier };
  const resolved = normalize(join(dirname(file), specifier))
    .split(sep)
    .join('/');
  return { internal: resolved === '../package.json' ? 'package.json' : resolved };
}

function externalAllowed(rule: Rule, name: string): boolean {
  if (rule.external === '*') return true;
  return rule.external.some((allowed) => (allowed.endsWith(':') ? name.startsWith(allowed) : name === allowed));
}

/** Every violation in one file's source, as "file → import (part: why)". */
function violationsIn(file: string, source: string): string[] {
  const from = partOf(file);
  if (from === null) return [`${file} (no rule says what it may import: add its part to RULES)`];
  const rule = RULES[from as Exclude<Part, 'package.json'>];
  const found: string[] = [];
  for (const [, specifier] of source.matchAll(SPECIFIER)) {
    const named = target(file, specifier!);
    if ('external' in named) {
      if (!externalAllowed(rule, named.external)) found.push(`${file} → ${named.external} (${from}: ${rule.why})`);
      continue;
    }
    const to = named.internal === 'package.json' ? 'package.json' : partOf(named.internal);
    if (to === from || rule.may === '*' || (to !== null && rule.may.includes(to))) continue;
    found.push(`${file} → ${named.internal} (${from}: ${rule.why})`);
  }
  return found;
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => relative(SRC, join(SRC, f)).split(sep).join('/'))
    .sort();
}

const key = (violation: string) => violation.replace(/ \(.*$/, '');

describe('imports follow the layering', () => {
  it('every file under src/ imports only what its part may', () => {
    const files = sourceFiles();
    assert.ok(files.includes('client/index.ts') && files.includes('domain/status.ts'), `read src/ (${files.length} files)`);
    const all = files.flatMap((file) => violationsIn(file, readFileSync(join(SRC, file), 'utf8')));
    assert.deepEqual(all, []);
  });

  it('reports each broken rule as "file → import (rule)"', () => {
    const source = [
      "import type { Store } from '../store/store.ts';",
      "import { readFileSync } from 'node:fs';",
      "export { isId } from './ids.ts';",
      "const later = await import('../http/app.ts');",
    ].join('\n');
    assert.deepEqual(violationsIn('domain/x.ts', source).map(key), ['domain/x.ts → store/store.ts', 'domain/x.ts → node:fs', 'domain/x.ts → http/app.ts']);
    assert.match(violationsIn('domain/x.ts', source)[0]!, /\(domain: decides: pure rules/);
    assert.deepEqual(violationsIn('http/x.ts', "import { DEFAULT_TENANT } from '../store/store.ts';").map(key), ['http/x.ts → store/store.ts']);
    assert.deepEqual(violationsIn('client/x.ts', "import { Type } from '@sinclair/typebox';").map(key), ['client/x.ts → @sinclair/typebox']);
    assert.deepEqual(violationsIn('cli/submit.ts', "import { createAsyncOps } from '../main.ts';").map(key), ['cli/submit.ts → main.ts']);
    assert.deepEqual(violationsIn('cli/server/serve.ts', "import { createAsyncOps } from '../../main.ts'; import { UsageError } from '../exit-codes.ts';"), []);
    assert.deepEqual(violationsIn('cli/server/serve.ts', "import { openStoreFromSpec } from '../../store/open.ts';").map(key), [
      'cli/server/serve.ts → store/open.ts',
    ]);
    assert.deepEqual(violationsIn('novel/x.ts', ''), ['novel/x.ts (no rule says what it may import: add its part to RULES)']);
  });
});
