// Owns: the check that the schema each adapter's migrations build is the one committed in test/store/schema/<dialect>.sql
// (so a schema change is a reviewed diff of the dump, made with its migration), and the way to write those dumps again.
// Not here: making the dumps (schema-dump.ts). Invariant: each case migrates a fresh database and removes it after.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { postgresSchema, sqliteSchema } from './schema-dump.ts';
import { dropSchema, PG_URL, postgresSkipReason, uniqueSchema, withClient } from '../support/postgres.ts';

const pgSkip = await postgresSkipReason();

/** Set to 1 to write the dumps from what the migrations build, instead of comparing (CONTRIBUTING "Tests"). */
const UPDATE = process.env.ASYNCOPS_UPDATE_SCHEMA_DUMPS === '1';

/** The lines of `before` and `after` as a diff: `-` only in before, `+` only in after, long unchanged runs elided. */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  // Longest common subsequence, from the end, so the walk below goes forward.
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const lines: Array<[' ' | '-' | '+', string]> = [];
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push([' ', a[i++]!]);
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) lines.push(['-', a[i++]!]);
    else lines.push(['+', b[j++]!]);
  }
  const near = (k: number) => lines.slice(Math.max(0, k - 2), k + 3).some(([mark]) => mark !== ' ');
  const shown = lines.map(([mark, text], k) => (mark !== ' ' || near(k) ? `${mark} ${text}` : null));
  return shown
    .filter((line, k) => line !== null || shown[k - 1] !== null)
    .map((line) => line ?? '  …')
    .join('\n');
}

function checkDump(actual: string, file: string): void {
  const path = fileURLToPath(new URL(`./schema/${file}`, import.meta.url));
  if (UPDATE) {
    writeFileSync(path, actual);
    return;
  }
  const committed = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (actual === committed) return;
  assert.fail(
    `the migrated schema is not test/store/schema/${file} (- committed, + migrated):\n${lineDiff(committed, actual)}\n` +
      'A schema change comes with its migration and its dump: ASYNCOPS_UPDATE_SCHEMA_DUMPS=1 npx node --test test/store/schema.test.ts',
  );
}

describe('migrated schema', () => {
  it('SQLite: what the migrations build is test/store/schema/sqlite.sql', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.open();
    try {
      checkDump(sqliteSchema(store.database), 'sqlite.sql');
    } finally {
      await store.close();
    }
  });

  it('PostgreSQL: what the migrations build is test/store/schema/postgres.sql', { skip: pgSkip ?? false }, async () => {
    const schema = uniqueSchema();
    const store = createPostgresStore({ url: PG_URL, schema, poolSize: 1 });
    try {
      await store.open();
      checkDump(await withClient((client) => postgresSchema(client, schema)), 'postgres.sql');
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('shows a difference as the lines that differ, with a little context', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].join('\n');
    const after = ['a', 'b', 'c', 'd', 'e', 'f', 'G', 'h', 'i', 'j', 'k'].join('\n');
    assert.equal(lineDiff(before, after), ['  …', '  e', '  f', '- g', '+ G', '  h', '  i', '  j', '+ k'].join('\n'));
  });
});
