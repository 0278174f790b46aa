// Owns: the statement fragment that keeps queue_depth, the pending count per type that queue positions are read from.
// Not here: reading the counts (standing.ts). Invariant: every statement that moves operations into or out of pending
// carries this fragment, so the counts change in the same statement as the operations.

/**
 * Rows per type in queue_depth; each statement adds to one drawn at random, so two writers wait on one row (until the
 * first commits) only by a 1-in-32 chance. By connection, two connections that shared a row always waited on each other.
 */
const DEPTH_SHARDS = 32;

/**
 * A CTE named `depth` adding (`+`) or taking (`-`) the rows of `source` (which has a `type` column) to the pending
 * counts. Types in order, so two writers never take two count rows in opposite orders.
 */
export function depthChange(source: string, sign: '+' | '-'): string {
  return `depth AS (
  INSERT INTO queue_depth (type, shard, pending)
  SELECT type, floor(random() * ${DEPTH_SHARDS})::int, ${sign}count(*) FROM ${source} GROUP BY type ORDER BY type
  ON CONFLICT (type, shard) DO UPDATE SET pending = queue_depth.pending + excluded.pending
)`;
}
