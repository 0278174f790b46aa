-- Owns: operation history (domain/history.ts): what happened to each operation, one row per event, in seq order.
-- seq only grows (a new rowid is above every stored one), so it orders an operation's events and is the cursor of
-- their pages. data: the kind's JSON (times in ms). The events go with their operation (ON DELETE CASCADE): a
-- delete, a prune or a bulk delete takes them along.

CREATE TABLE operation_history (
  seq          INTEGER PRIMARY KEY,
  operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  at           INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  data         TEXT NOT NULL
) STRICT;

-- An operation's events in order (its history pages), and the cascade's lookup when it is deleted.
CREATE INDEX operation_history_operation ON operation_history (operation_id, seq);
