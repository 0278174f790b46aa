// Owns: turning a store specification (a file path, `sqlite:PATH`, `:memory:` or a postgres:// URL, which may name
// its schema as `?schema=NAME`) into a Store. The one place above the adapters that knows which adapters exist.
// Invariant: an unrecognised specification is refused with a message, never guessed at.

import type { Store } from './store.ts';
import { createSqliteStore } from './sqlite/sqlite-store.ts';
import { createPostgresStore } from './postgres/postgres-store.ts';
import { checkSchemaName } from './postgres/database.ts';

export interface StoreSpecOptions {
  /** PostgreSQL schema to use (default `asyncops`). */
  readonly schema?: string | undefined;
  /**
   * Told about errors that have no caller to throw to (a lost PostgreSQL connection, a failed SQLite checkpoint, a
   * throwing change-feed listener); default: a process warning.
   */
  readonly onError?: ((err: unknown) => void) | undefined;
  /**
   * `refuse`: a store an earlier version migrated is refused (StoreBehindError) rather than migrated, for a command that
   * only reads it beside nodes of that version; a new store is made and migrated all the same. Default `migrate`.
   */
  readonly existing?: 'migrate' | 'refuse' | undefined;
}

export type StoreSpec =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema: string | undefined };

/** What a specification names, without opening anything; throws a message for one that names nothing known. */
export function parseStoreSpec(spec: string, options: Pick<StoreSpecOptions, 'schema'> = {}): StoreSpec {
  const trimmed = spec.trim();
  if (trimmed.length === 0) throw new TypeError('store: the specification is empty (use a file path, sqlite:PATH, :memory: or postgres://…)');
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return { kind: 'postgres', ...postgresSpec(trimmed, options.schema) };
  if (trimmed.startsWith('sqlite:')) {
    const path = trimmed.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) throw new TypeError('store: sqlite: needs a path, e.g. sqlite:./asyncops.db');
    return { kind: 'sqlite', path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed))
    throw new TypeError(`store: unsupported scheme in "${describeStoreSpec(trimmed)}" (use a file path, sqlite:PATH, :memory: or postgres://…)`);
  return { kind: 'sqlite', path: trimmed };
}

export function describeStoreSpec(spec: string): string {
  return /^postgres(ql)?:\/\//i.test(spec) ? spec.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@') : spec;
}

export function openStoreFromSpec(spec: string, options: StoreSpecOptions = {}): Store {
  const parsed = parseStoreSpec(spec, options);
  return parsed.kind === 'postgres'
    ? createPostgresStore({ url: parsed.url, schema: parsed.schema, onError: options.onError, existing: options.existing })
    : createSqliteStore({ path: parsed.path, onError: options.onError, existing: options.existing });
}

/**
 * Takes `schema` out of a postgres:// URL's query (the driver would not know it) so one database can hold several
 * independent asyncops installations. A schema named both in the URL and in the options must be the same one.
 */
export function postgresSpec(spec: string, schemaOption?: string): { url: string; schema: string | undefined } {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    // The driver reads some strings a URL parser refuses; those pass through, unless a schema would be lost.
    if (/[?&]schema=/.test(spec)) throw new TypeError(`store: "${describeStoreSpec(spec)}" is not a valid URL, so its ?schema= cannot be read`);
    return { url: spec, schema: schemaOption };
  }
  const inUrl = url.searchParams.getAll('schema');
  if (inUrl.length === 0) return { url: spec, schema: schemaOption };
  if (inUrl.length > 1 || inUrl[0] === '') throw new TypeError('store: give ?schema= once, with a name');
  if (schemaOption !== undefined && schemaOption !== inUrl[0]) {
    throw new TypeError(`store: the URL names schema "${inUrl[0]}" but the options name "${schemaOption}"`);
  }
  try {
    checkSchemaName(inUrl[0]!);
  } catch (error) {
    throw new TypeError(`store: ${(error as Error).message}`);
  }
  url.searchParams.delete('schema');
  return { url: url.toString(), schema: inUrl[0] };
}
