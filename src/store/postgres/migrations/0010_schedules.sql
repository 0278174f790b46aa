-- Owns: recurring schedules and the ticks they fired (docs/schedules.md).
-- A tick is fired by advancing next_run_at from the value it had (a conditional UPDATE: of nodes firing at once, one
-- wins and the others find it moved) and inserting its operation and its schedule_ticks row in the same transaction;
-- the (schedule_id, tick) key refuses a second operation for one tick.

CREATE TABLE schedules (
  id            text PRIMARY KEY,
  tenant        text NOT NULL,
  type          text NOT NULL,
  input         text NOT NULL,
  cron          text NOT NULL,
  timezone      text NOT NULL,
  webhook_url   text,
  paused        boolean NOT NULL DEFAULT false,
  -- Null: the expression matches no later time.
  next_run_at   bigint,
  last_run_at   bigint,
  skipped_ticks bigint NOT NULL DEFAULT 0,
  origin        text NOT NULL CHECK (origin IN ('api', 'task')),
  -- A schedule a task declares: `<type>#<n>`, the one row every node starting with that declaration agrees on.
  declared_key  text UNIQUE,
  created_at    bigint NOT NULL,
  updated_at    bigint NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE NOT paused AND next_run_at IS NOT NULL;
CREATE INDEX schedules_tenant ON schedules (tenant, id);

CREATE TABLE schedule_ticks (
  schedule_id  text NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  tick         bigint NOT NULL,
  -- Null: the tick passed without an operation (its task type is no longer registered, or its input no longer valid).
  operation_id text,
  -- Missed ticks passed over before this one (the missed-tick policy).
  skipped      bigint NOT NULL,
  fired_at     bigint NOT NULL,
  PRIMARY KEY (schedule_id, tick)
);
