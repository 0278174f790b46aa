-- Owns: what the ETA learns from and counts with: the cost each operation declared on submit (its task's cost(input)),
-- an earlier progress point of the running attempt (its anchor: the recent rate is read from it to the latest), the cost
-- beside each duration sample (so the time per unit of cost is learnt), and the worker nodes with their limits (so every
-- process's ETA counts the slots of every worker on the file, not its own configuration).
-- Operations and samples stored before have no cost: the ETA reads them as work of unknown size.

ALTER TABLE operations ADD COLUMN cost REAL;
ALTER TABLE operations ADD COLUMN progress_anchor REAL;
ALTER TABLE operations ADD COLUMN progress_anchor_at INTEGER;
ALTER TABLE duration_samples ADD COLUMN cost REAL;

-- One row per worker process, written every few seconds while it runs (domain/capacity.ts); type_limits is a JSON object
-- of task type → how many of it the node runs at once.
CREATE TABLE worker_nodes (
  id          TEXT PRIMARY KEY,
  concurrency INTEGER NOT NULL,
  type_limits TEXT NOT NULL,
  seen_at     INTEGER NOT NULL
) STRICT;
