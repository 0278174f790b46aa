-- Owns: what queue standings are read from: the pending count per type (kept by triggers, in the writing transaction),
-- the index of pending operations by due time, and the index of running attempts per type.
-- A new operation joins the tail of its type's queue, so counting the operations ahead of it walked the whole queue;
-- the count of the type less the few behind it costs what is behind, and that is nothing at the tail.

CREATE TABLE queue_depth (
  type    TEXT PRIMARY KEY,
  pending INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO queue_depth (type, pending) SELECT type, count(*) FROM operations WHERE status = 'pending' GROUP BY type;

CREATE TRIGGER queue_depth_insert AFTER INSERT ON operations WHEN NEW.status = 'pending'
BEGIN
  INSERT INTO queue_depth (type, pending) VALUES (NEW.type, 1) ON CONFLICT (type) DO UPDATE SET pending = pending + 1;
END;

CREATE TRIGGER queue_depth_update AFTER UPDATE OF status ON operations WHEN (OLD.status = 'pending') <> (NEW.status = 'pending')
BEGIN
  INSERT INTO queue_depth (type, pending) VALUES (NEW.type, CASE WHEN NEW.status = 'pending' THEN 1 ELSE -1 END)
    ON CONFLICT (type) DO UPDATE SET pending = pending + excluded.pending;
END;

CREATE TRIGGER queue_depth_delete AFTER DELETE ON operations WHEN OLD.status = 'pending'
BEGIN
  UPDATE queue_depth SET pending = pending - 1 WHERE type = OLD.type;
END;

-- Pending operations of a type by due time: those not due yet (scheduled, or waiting out a retry's backoff) are counted
-- in the depth but are ahead of no one; the earliest is when a worker of the type must wake. It serves what the index on
-- run_at alone did (the workers ask per type), so that one goes: each index costs every insert, claim and finish.
CREATE INDEX operations_pending_due ON operations (type, run_at, priority) WHERE status = 'pending';
DROP INDEX operations_pending_run_at;

-- The running attempts of a type, earliest first (the ETA of its pending operations).
CREATE INDEX operations_running ON operations (type, started_at) WHERE status = 'processing';
