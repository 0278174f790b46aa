// Owns: turning a store specification (a file path, `sqlite:PATH`, `:memory:` or a postgres:// URL)
// into a Store. The one place above the adapters that knows which adapters exist.
// Invariant: an unrecognised specification is refused with a message, never guessed at.

import type { Store } from './store.ts';
import { createSqliteStore } from './sqlite/sqlite-store.ts';
import { createPostgresStore } from './postgres/postgres-store.ts';

export interface StoreSpecOptions {
  /** PostgreSQL schema to use (default `asyncops`). */
  readonly schema?: string | undefined;
}

export function describeStoreSpec(spec: string): string {
  return /^postgres(ql)?:\/\//i.test(spec) ? spec.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') : spec;
}

export function openStoreFromSpec(spec: string, options: StoreSpecOptions = {}): Store {
  const trimmed = spec.trim();
  if (trimmed.length === 0) throw new Error('store: the specification is empty (use a file path, sqlite:PATH, :memory: or postgres://…)');
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return createPostgresStore({ url: trimmed, schema: options.schema });
  if (trimmed === ':memory:') return createSqliteStore({ path: ':memory:' });
  if (trimmed.startsWith('sqlite:')) {
    const path = trimmed.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) throw new Error('store: sqlite: needs a path, e.g. sqlite:./asyncops.db');
    return createSqliteStore({ path });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) throw new Error(`store: unsupported scheme in "${describeStoreSpec(trimmed)}" (use a file path, sqlite:PATH, :memory: or postgres://…)`);
  return createSqliteStore({ path: trimmed });
}
