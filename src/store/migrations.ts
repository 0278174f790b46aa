// Owns: what both stores' migrators decide alike: a store that a later version of asyncops migrated further than this
// one knows is refused, as is one whose recorded migrations are not this version's, and (for a command that only reads)
// one an earlier version migrated.
// Not here: applying migrations (sqlite/migrate.ts, postgres/migrate.ts).

/** A store a migrator refuses to run on, before anything is written to it: the one line says why and what to do. */
export class StoreRefusedError extends Error {}

/** The store was migrated by a later version: this one would misread it or leave out what the later one keeps. */
export class StoreNewerError extends StoreRefusedError {
  override readonly name = 'StoreNewerError';
}

/**
 * A migration recorded in the store is not the one this version has under its number: a build whose migrations never
 * were released (a development checkout) migrated it, and what that one left is not what this version's expect.
 */
export class StoreForeignError extends StoreRefusedError {
  override readonly name = 'StoreForeignError';
}

/** The store is older than this version and was not to be migrated (a command that only reads, beside older nodes). */
export class StoreBehindError extends StoreRefusedError {
  override readonly name = 'StoreBehindError';
}

type Recorded = { readonly version: number; readonly name: string };

/**
 * What both migrators check of the migrations a store has recorded (in version order) before they apply any: refuses a
 * store migrated further than `files` know (StoreNewerError), one with a recorded migration of another name
 * (StoreForeignError), and, with `existing: 'refuse'`, one that lacks some of them (StoreBehindError).
 */
export function refuseUnfit(recorded: readonly Recorded[], files: readonly string[], existing: 'migrate' | 'refuse'): void {
  refuseNewer(recorded.at(-1), files);
  refuseForeign(recorded, files);
  if (existing === 'refuse') refuseBehind(recorded.at(-1), files);
}

/** A migration file's number (`NNNN_name.sql`). */
export function versionOf(file: string): number {
  return Number(file.slice(0, 4));
}

/**
 * Throws StoreBehindError when a store that has migrations recorded lacks some of `files`: a command that only reads
 * (`asyncops webhook-secret`) must not migrate a store older nodes still run on, which would then refuse to start.
 */
export function refuseBehind(newestRecorded: Recorded | undefined, files: readonly string[]): void {
  if (newestRecorded === undefined) return;
  const known = newestKnown(files);
  if (newestRecorded.version >= known) return;
  throw new StoreBehindError(
    `store: its schema is at migration ${newestRecorded.version} (${newestRecorded.name}), older than this asyncops (${known}), and this ` +
      'command does not migrate it: run it with the version the nodes on it run, or after they are upgraded',
  );
}

/**
 * Throws StoreNewerError when the newest migration recorded in a store is past the newest of `files` (this version's
 * migrations, `NNNN_name.sql`, sorted). A node of an older version beside a newer one would write without what the
 * newer one's migrations keep up to date (the pending counts behind queue positions, history), and those stay wrong
 * after it stops.
 */
export function refuseNewer(newestRecorded: Recorded | undefined, files: readonly string[]): void {
  if (newestRecorded === undefined) return;
  const known = newestKnown(files);
  if (newestRecorded.version <= known) return;
  throw new StoreNewerError(
    `store: its schema is at migration ${newestRecorded.version} (${newestRecorded.name}), newer than this asyncops knows (${known}); ` +
      'run the version that migrated it, or a newer one',
  );
}

/**
 * Throws StoreForeignError when a recorded migration's file name is not this version's for its number: the migrator
 * skips a number it finds recorded, so the store would go on without what this version's file makes (a column, an
 * index) and fail later, query by query, or half-way through the migrations after it.
 */
export function refuseForeign(recorded: readonly Recorded[], files: readonly string[]): void {
  const byVersion = new Map(files.map((file) => [versionOf(file), file]));
  for (const { version, name } of recorded) {
    const known = byVersion.get(version);
    if (known === undefined || known === name) continue;
    throw new StoreForeignError(
      `store: its migration ${version} was applied as ${name}, which this asyncops does not have (its migration ${version} is ${known}); ` +
        'a build whose migrations were never released migrated it: run that build, or restore the store from a backup',
    );
  }
}

/** The number of the newest of this version's migrations (`NNNN_name.sql`, sorted); 0 for none. */
function newestKnown(files: readonly string[]): number {
  return files.length === 0 ? 0 : versionOf(files.at(-1)!);
}
