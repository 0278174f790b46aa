// Owns: what both stores' migrators decide alike: a store that a later version of asyncops migrated further than this
// one knows is refused. Not here: applying migrations (sqlite/migrate.ts, postgres/migrate.ts).

/** The store was migrated by a later version: this one would misread it or leave out what the later one keeps. */
export class StoreNewerError extends Error {
  override readonly name = 'StoreNewerError';
}

/**
 * Throws StoreNewerError when the newest migration recorded in a store is past the newest of `files` (this version's
 * migrations, `NNNN_name.sql`, sorted). A node of an older version beside a newer one would write without what the
 * newer one's migrations keep up to date (the pending counts behind queue positions, history), and those stay wrong
 * after it stops.
 */
export function refuseNewer(newestRecorded: { readonly version: number; readonly name: string } | undefined, files: readonly string[]): void {
  if (newestRecorded === undefined) return;
  const known = files.length === 0 ? 0 : Number(files.at(-1)!.slice(0, 4));
  if (newestRecorded.version <= known) return;
  throw new StoreNewerError(
    `store: its schema is at migration ${newestRecorded.version} (${newestRecorded.name}), newer than this asyncops knows (${known}); ` +
      'run the version that migrated it, or a newer one',
  );
}
