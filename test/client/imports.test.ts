// The SDK knows only the HTTP contract: no file under src/client/ imports anything outside it but Node built-ins.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLIENT_DIR = fileURLToPath(new URL('../../src/client/', import.meta.url));
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

test('src/client/ imports only its own files and node: built-ins', () => {
  const files = readdirSync(CLIENT_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('index.ts'));
  const offending: string[] = [];
  for (const file of files) {
    const source = readFileSync(join(CLIENT_DIR, file), 'utf8');
    for (const [, specifier] of source.matchAll(SPECIFIER)) {
      const inside = specifier!.startsWith('./') && !join(file, '..', specifier!).startsWith('..');
      if (!inside && !specifier!.startsWith('node:')) offending.push(`${file}: ${specifier}`);
    }
  }
  assert.deepEqual(offending, []);
});
