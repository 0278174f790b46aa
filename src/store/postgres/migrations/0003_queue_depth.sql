-- Owns: the pending count per type that queue positions are read from, and the index of pending operations by due time.
-- A new operation joins the tail of its type's queue, so counting the operations ahead of it walked the whole queue;
-- the count of the type less the few behind it costs what is behind, and that is nothing at the tail.
-- Every statement that moves operations into or out of pending adds its change here (transitions.ts, operations.ts),
-- in rows of its connection's shard, so concurrent writers rarely wait on one row.

CREATE TABLE queue_depth (
  type    text    NOT NULL,
  shard   integer NOT NULL,
  pending bigint  NOT NULL,
  PRIMARY KEY (type, shard)
);

-- Writers of a node not yet upgraded must not change pending operations between the count and the commit.
LOCK TABLE operations IN SHARE MODE;
INSERT INTO queue_depth (type, shard, pending) SELECT type, 0, count(*) FROM operations WHERE status = 'pending' GROUP BY type;

-- Pending operations of a type by due time: those not due yet (scheduled, or waiting out a retry's backoff) are counted
-- in the depth but are ahead of no one; the earliest is when a worker of the type must wake. It serves what the index on
-- run_at alone did (the workers ask per type), so that one goes: each index costs every insert, claim and finish.
CREATE INDEX operations_pending_due ON operations (type, run_at, priority) WHERE status = 'pending';
DROP INDEX operations_pending_run_at;
