CREATE TABLE bulk_actions (
  id TEXT PRIMARY KEY,
  action TEXT NOT NULL CHECK (action IN ('retry', 'cancel', 'delete', 'replay_deliveries')),
  filter TEXT NOT NULL,
  tenant TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  total INTEGER NOT NULL,
  processed INTEGER NOT NULL DEFAULT 0,
  succeeded INTEGER NOT NULL DEFAULT 0,
  skipped INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  error_code TEXT,
  error_message TEXT,
  cursor TEXT,
  lease_token TEXT,
  lease_expires_at INTEGER
) STRICT;

CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  tenant TEXT NOT NULL,
  url TEXT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'retrying', 'dead')),
  attempt_count INTEGER NOT NULL DEFAULT 0,
  schedule_attempt INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_status_code INTEGER,
  last_error TEXT,
  lease_token TEXT,
  lease_expires_at INTEGER,
  worker_id TEXT,
  manual INTEGER NOT NULL DEFAULT 0
, destination TEXT, traceparent TEXT, tracestate TEXT, superseded INTEGER NOT NULL DEFAULT 0) STRICT;

CREATE TABLE delivery_attempts (
  delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  trigger TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  response_snippet TEXT,
  PRIMARY KEY (delivery_id, attempt)
) STRICT;

CREATE TABLE duration_samples (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  duration_ms INTEGER NOT NULL
, cost REAL) STRICT;

CREATE TABLE fair_keys (
  type TEXT NOT NULL,
  tenant TEXT NOT NULL,
  concurrency_key TEXT NOT NULL,
  pass REAL NOT NULL,
  PRIMARY KEY (type, tenant, concurrency_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE fair_tenants (
  type TEXT NOT NULL,
  tenant TEXT NOT NULL,
  pass REAL NOT NULL,
  PRIMARY KEY (type, tenant)
) STRICT, WITHOUT ROWID;

CREATE TABLE idempotency_keys (
  tenant TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, key)
) STRICT;

CREATE TABLE operation_counts (
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (tenant, type, status)
) STRICT, WITHOUT ROWID;

CREATE TABLE operation_history (
  seq INTEGER PRIMARY KEY,
  operation_id TEXT NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  data TEXT NOT NULL
) STRICT;

CREATE TABLE operations (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  input TEXT NOT NULL,
  progress REAL,
  progress_message TEXT,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  timeout_s INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  updated_at INTEGER NOT NULL,
  error_code TEXT,
  error_message TEXT,
  webhook_url TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  lease_token TEXT,
  lease_expires_at INTEGER,
  worker_id TEXT,
  result_expired INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1
, cost REAL, progress_anchor REAL, progress_anchor_at INTEGER, traceparent TEXT, tracestate TEXT, concurrency_key TEXT NOT NULL DEFAULT '', finished_version INTEGER, redriven_at INTEGER, schedule_id TEXT) STRICT;

CREATE TABLE queue_depth (
  type TEXT PRIMARY KEY,
  pending INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE rate_limits (
  type TEXT NOT NULL,
  bucket_key TEXT NOT NULL DEFAULT '',
  tokens REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  held_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (type, bucket_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE results (
  operation_id TEXT PRIMARY KEY REFERENCES operations (id) ON DELETE CASCADE,
  content_type TEXT NOT NULL,
  body BLOB NOT NULL
) STRICT;

CREATE TABLE schedule_ticks (
  schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
  tick INTEGER NOT NULL,
  operation_id TEXT,
  skipped INTEGER NOT NULL,
  fired_at INTEGER NOT NULL,
  PRIMARY KEY (schedule_id, tick)
) STRICT;

CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  type TEXT NOT NULL,
  input TEXT NOT NULL,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL,
  webhook_url TEXT,
  paused INTEGER NOT NULL DEFAULT 0,
  next_run_at INTEGER,
  last_run_at INTEGER,
  skipped_ticks INTEGER NOT NULL DEFAULT 0,
  origin TEXT NOT NULL CHECK (origin IN ('api', 'task')),
  declared_key TEXT UNIQUE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
, idempotency_key TEXT, request_fingerprint TEXT, priority INTEGER NOT NULL DEFAULT 0) STRICT;

CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE worker_nodes (
  id TEXT PRIMARY KEY,
  concurrency INTEGER NOT NULL,
  type_limits TEXT NOT NULL,
  seen_at INTEGER NOT NULL
) STRICT;

CREATE INDEX bulk_actions_tenant_id ON bulk_actions (tenant, id DESC);

CREATE INDEX bulk_actions_unfinished ON bulk_actions (created_at, id) WHERE status IN ('pending', 'processing');

CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';

CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id, destination) WHERE state IN ('pending', 'retrying');

CREATE INDEX deliveries_lease ON deliveries (lease_expires_at) WHERE lease_token IS NOT NULL;

CREATE INDEX deliveries_operation ON deliveries (operation_id, created_at, id);

CREATE INDEX deliveries_state_id ON deliveries (state, id DESC);

CREATE INDEX deliveries_superseded_undelivered ON deliveries (id) WHERE superseded = 1 AND state IN ('pending', 'retrying');

CREATE INDEX deliveries_tenant_id ON deliveries (tenant, id DESC);

CREATE INDEX deliveries_tenant_state_id ON deliveries (tenant, state, id DESC);

CREATE INDEX duration_samples_type_id ON duration_samples (type, id DESC);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE INDEX idempotency_keys_key ON idempotency_keys (key);

CREATE INDEX idempotency_keys_operation ON idempotency_keys (operation_id);

CREATE INDEX operation_history_created_key ON operation_history (json_extract(data, '$.idempotency_key'))
  WHERE kind = 'created' AND json_extract(data, '$.idempotency_key') IS NOT NULL;

CREATE INDEX operation_history_operation ON operation_history (operation_id, seq);

CREATE INDEX operations_claim ON operations (type, priority DESC, run_at, id) WHERE status = 'pending';

CREATE INDEX operations_error_code_id ON operations (error_code, id DESC) WHERE error_code IS NOT NULL;

CREATE INDEX operations_failed_cancelled_id ON operations (status, id DESC) WHERE status = 'failed' OR status = 'cancelled';

CREATE INDEX operations_fair ON operations (type, tenant, concurrency_key, priority DESC, run_at, id) WHERE status = 'pending';

CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;

CREATE INDEX operations_key_running ON operations (type, tenant, concurrency_key) WHERE status = 'processing' AND concurrency_key <> '';

CREATE INDEX operations_lease ON operations (lease_expires_at, id) WHERE status = 'processing';

CREATE INDEX operations_pending_due ON operations (type, run_at, priority) WHERE status = 'pending';

CREATE INDEX operations_running ON operations (type, started_at) WHERE status = 'processing';

CREATE INDEX operations_schedule_id ON operations (schedule_id, id DESC) WHERE schedule_id IS NOT NULL;

CREATE INDEX operations_tenant_error_code_id ON operations (tenant, error_code, id DESC) WHERE error_code IS NOT NULL;

CREATE INDEX operations_tenant_id ON operations (tenant, id DESC);

CREATE INDEX operations_tenant_status_id ON operations (tenant, status, id DESC);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE paused = 0 AND next_run_at IS NOT NULL;

CREATE UNIQUE INDEX schedules_idempotency ON schedules (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE INDEX schedules_tenant ON schedules (tenant, id);

CREATE TRIGGER operation_counts_delete AFTER DELETE ON operations
BEGIN
  UPDATE operation_counts SET count = count - 1 WHERE tenant = OLD.tenant AND type = OLD.type AND status = OLD.status;
END;

CREATE TRIGGER operation_counts_insert AFTER INSERT ON operations
BEGIN
  INSERT INTO operation_counts (tenant, type, status, count) VALUES (NEW.tenant, NEW.type, NEW.status, 1)
    ON CONFLICT (tenant, type, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER operation_counts_update AFTER UPDATE OF status ON operations WHEN OLD.status <> NEW.status
BEGIN
  UPDATE operation_counts SET count = count - 1 WHERE tenant = OLD.tenant AND type = OLD.type AND status = OLD.status;
  INSERT INTO operation_counts (tenant, type, status, count) VALUES (NEW.tenant, NEW.type, NEW.status, 1)
    ON CONFLICT (tenant, type, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER queue_depth_delete AFTER DELETE ON operations WHEN OLD.status = 'pending'
BEGIN
  UPDATE queue_depth SET pending = pending - 1 WHERE type = OLD.type;
END;

CREATE TRIGGER queue_depth_insert AFTER INSERT ON operations WHEN NEW.status = 'pending'
BEGIN
  INSERT INTO queue_depth (type, pending) VALUES (NEW.type, 1) ON CONFLICT (type) DO UPDATE SET pending = pending + 1;
END;

CREATE TRIGGER queue_depth_update AFTER UPDATE OF status ON operations WHEN (OLD.status = 'pending') <> (NEW.status = 'pending')
BEGIN
  INSERT INTO queue_depth (type, pending) VALUES (NEW.type, CASE WHEN NEW.status = 'pending' THEN 1 ELSE -1 END)
    ON CONFLICT (type) DO UPDATE SET pending = pending + excluded.pending;
END;
