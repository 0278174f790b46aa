-- Owns: byte order ("C") for every text column, whatever the database's default collation.
-- Why: ids, tenants, types and keys are compared and ordered in SQL and in JavaScript (claim order, cursors, the turns
-- between tenants), and the SQLite store orders them as bytes. Under a database's default collation they were ordered
-- by its locale: on an ICU or glibc en-US database '~', the "no cursor" bound of a schedule list, sorted before every
-- id, so a first page was empty, and every index comparison of a text key went through the locale's strcoll
-- (bench/README.md, "Text keys in byte order"). Equality is unchanged (every collation here is deterministic); the table
-- rows are not rewritten, the indexes over these columns are rebuilt.

ALTER TABLE bulk_actions
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN action TYPE text COLLATE "C",
  ALTER COLUMN filter TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN status TYPE text COLLATE "C",
  ALTER COLUMN created_by TYPE text COLLATE "C",
  ALTER COLUMN error_code TYPE text COLLATE "C",
  ALTER COLUMN error_message TYPE text COLLATE "C",
  ALTER COLUMN cursor TYPE text COLLATE "C",
  ALTER COLUMN lease_token TYPE text COLLATE "C";

ALTER TABLE deliveries
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN message_id TYPE text COLLATE "C",
  ALTER COLUMN operation_id TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN url TYPE text COLLATE "C",
  ALTER COLUMN event_type TYPE text COLLATE "C",
  ALTER COLUMN payload TYPE text COLLATE "C",
  ALTER COLUMN state TYPE text COLLATE "C",
  ALTER COLUMN last_error TYPE text COLLATE "C",
  ALTER COLUMN lease_token TYPE text COLLATE "C",
  ALTER COLUMN worker_id TYPE text COLLATE "C",
  ALTER COLUMN destination TYPE text COLLATE "C",
  ALTER COLUMN traceparent TYPE text COLLATE "C",
  ALTER COLUMN tracestate TYPE text COLLATE "C";

ALTER TABLE delivery_attempts
  ALTER COLUMN delivery_id TYPE text COLLATE "C",
  ALTER COLUMN trigger TYPE text COLLATE "C",
  ALTER COLUMN error TYPE text COLLATE "C",
  ALTER COLUMN response_snippet TYPE text COLLATE "C";

ALTER TABLE duration_samples
  ALTER COLUMN type TYPE text COLLATE "C";

ALTER TABLE fair_keys
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN concurrency_key TYPE text COLLATE "C";

ALTER TABLE fair_tenants
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C";

ALTER TABLE idempotency_keys
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN key TYPE text COLLATE "C",
  ALTER COLUMN fingerprint TYPE text COLLATE "C",
  ALTER COLUMN operation_id TYPE text COLLATE "C";

ALTER TABLE operation_counts
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN status TYPE text COLLATE "C";

ALTER TABLE operation_history
  ALTER COLUMN operation_id TYPE text COLLATE "C",
  ALTER COLUMN kind TYPE text COLLATE "C";

ALTER TABLE operations
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN status TYPE text COLLATE "C",
  ALTER COLUMN input TYPE text COLLATE "C",
  ALTER COLUMN progress_message TYPE text COLLATE "C",
  ALTER COLUMN error_code TYPE text COLLATE "C",
  ALTER COLUMN error_message TYPE text COLLATE "C",
  ALTER COLUMN webhook_url TYPE text COLLATE "C",
  ALTER COLUMN lease_token TYPE text COLLATE "C",
  ALTER COLUMN worker_id TYPE text COLLATE "C",
  ALTER COLUMN traceparent TYPE text COLLATE "C",
  ALTER COLUMN tracestate TYPE text COLLATE "C",
  ALTER COLUMN concurrency_key TYPE text COLLATE "C";

ALTER TABLE queue_depth
  ALTER COLUMN type TYPE text COLLATE "C";

ALTER TABLE rate_limits
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN bucket_key TYPE text COLLATE "C";

ALTER TABLE results
  ALTER COLUMN operation_id TYPE text COLLATE "C",
  ALTER COLUMN content_type TYPE text COLLATE "C";

ALTER TABLE schedule_ticks
  ALTER COLUMN schedule_id TYPE text COLLATE "C",
  ALTER COLUMN operation_id TYPE text COLLATE "C";

ALTER TABLE schedules
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN tenant TYPE text COLLATE "C",
  ALTER COLUMN type TYPE text COLLATE "C",
  ALTER COLUMN input TYPE text COLLATE "C",
  ALTER COLUMN cron TYPE text COLLATE "C",
  ALTER COLUMN timezone TYPE text COLLATE "C",
  ALTER COLUMN webhook_url TYPE text COLLATE "C",
  ALTER COLUMN origin TYPE text COLLATE "C",
  ALTER COLUMN declared_key TYPE text COLLATE "C";

ALTER TABLE settings
  ALTER COLUMN key TYPE text COLLATE "C",
  ALTER COLUMN value TYPE text COLLATE "C";

ALTER TABLE worker_nodes
  ALTER COLUMN id TYPE text COLLATE "C";
