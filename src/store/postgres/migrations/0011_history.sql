-- Owns: operation history (domain/history.ts): what happened to each operation, one row per event, in seq order.
-- seq comes from an identity, so it only grows: it orders an operation's events and is the cursor of their pages.
-- data: the kind's JSON (times in ms). The events go with their operation (ON DELETE CASCADE): a delete, a prune or a
-- bulk delete takes them along.

CREATE TABLE operation_history (
  seq          bigint GENERATED ALWAYS AS IDENTITY,
  operation_id text NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  at           bigint NOT NULL,
  kind         text NOT NULL,
  data         jsonb NOT NULL,
  -- One index for both: an operation's events in order (its history pages), and the cascade's lookup.
  PRIMARY KEY (operation_id, seq)
);
