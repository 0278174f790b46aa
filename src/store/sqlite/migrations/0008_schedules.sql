-- Owns: recurring schedules and the ticks they fired (docs/schedules.md).
-- A tick is fired by advancing next_run_at from the value it had (so one caller wins) and inserting its operation and
-- its schedule_ticks row in the same transaction; the (schedule_id, tick) key refuses a second operation for one tick.

CREATE TABLE schedules (
  id            TEXT PRIMARY KEY,
  tenant        TEXT NOT NULL,
  type          TEXT NOT NULL,
  input         TEXT NOT NULL,
  cron          TEXT NOT NULL,
  timezone      TEXT NOT NULL,
  webhook_url   TEXT,
  paused        INTEGER NOT NULL DEFAULT 0,
  -- Null: the expression matches no later time.
  next_run_at   INTEGER,
  last_run_at   INTEGER,
  skipped_ticks INTEGER NOT NULL DEFAULT 0,
  origin        TEXT NOT NULL CHECK (origin IN ('api', 'task')),
  -- A schedule a task declares: `<type>#<n>`, the one row every node starting with that declaration agrees on.
  declared_key  TEXT UNIQUE,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused = 0 AND next_run_at IS NOT NULL;
CREATE INDEX schedules_tenant ON schedules (tenant, id);

CREATE TABLE schedule_ticks (
  schedule_id  TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  tick         INTEGER NOT NULL,
  -- Null: the tick passed without an operation (its task type is no longer registered, or its input no longer valid).
  operation_id TEXT,
  -- Missed ticks passed over before this one (the missed-tick policy).
  skipped      INTEGER NOT NULL,
  fired_at     INTEGER NOT NULL,
  PRIMARY KEY (schedule_id, tick)
) STRICT;
