-- Owns: the initial PostgreSQL schema: operations, results, idempotency keys, deliveries and attempts, duration samples, settings.
-- Runs with the store's schema first on the search_path. Times are bigint ms since the epoch; JSON is text, kept as given.

CREATE TABLE operations (
  id               text PRIMARY KEY,
  tenant           text NOT NULL,
  type             text NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled')),
  input            text NOT NULL,
  progress         double precision,
  progress_message text,
  attempt          integer NOT NULL,
  max_attempts     integer NOT NULL,
  priority         integer NOT NULL,
  -- Any positive number of seconds here; 0005_integer_timeout.sql makes it whole seconds.
  timeout_s        double precision NOT NULL,
  run_at           bigint NOT NULL,
  created_at       bigint NOT NULL,
  started_at       bigint,
  finished_at      bigint,
  updated_at       bigint NOT NULL,
  error_code       text,
  error_message    text,
  webhook_url      text,
  cancel_requested boolean NOT NULL DEFAULT false,
  lease_token      text,
  lease_expires_at bigint,
  worker_id        text,
  result_expired   boolean NOT NULL DEFAULT false,
  version          integer NOT NULL DEFAULT 1
);

-- Claims and queue positions: runnable pending operations of a type in claim order.
CREATE INDEX operations_claim ON operations (type, priority DESC, run_at, id) WHERE status = 'pending';
-- The earliest pending run_at (workers' sleep).
CREATE INDEX operations_pending_run_at ON operations (run_at) WHERE status = 'pending';
-- Expired leases.
CREATE INDEX operations_lease ON operations (lease_expires_at) WHERE status = 'processing';
-- Listing, newest first, with and without a status filter.
CREATE INDEX operations_tenant_id ON operations (tenant, id DESC);
CREATE INDEX operations_tenant_status_id ON operations (tenant, status, id DESC);
-- Retention.
CREATE INDEX operations_finished_at ON operations (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE results (
  operation_id text PRIMARY KEY REFERENCES operations (id) ON DELETE CASCADE,
  content_type text NOT NULL,
  body         bytea NOT NULL
);

CREATE TABLE idempotency_keys (
  tenant       text NOT NULL,
  key          text NOT NULL,
  fingerprint  text NOT NULL,
  operation_id text NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  expires_at   bigint NOT NULL,
  PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_operation ON idempotency_keys (operation_id);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE TABLE deliveries (
  id               text PRIMARY KEY,
  message_id       text NOT NULL,
  operation_id     text NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
  tenant           text NOT NULL,
  url              text NOT NULL,
  event_type       text NOT NULL,
  payload          text NOT NULL,
  state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'retrying', 'dead')),
  attempt_count    integer NOT NULL DEFAULT 0,
  schedule_attempt integer NOT NULL DEFAULT 0,
  next_attempt_at  bigint,
  created_at       bigint NOT NULL,
  updated_at       bigint NOT NULL,
  last_status_code integer,
  last_error       text,
  lease_token      text,
  lease_expires_at bigint,
  worker_id        text,
  manual           boolean NOT NULL DEFAULT false
);
-- Claims and the next due time: deliveries still to be sent, by time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'retrying');
CREATE INDEX deliveries_operation ON deliveries (operation_id, created_at);
CREATE INDEX deliveries_tenant_id ON deliveries (tenant, id DESC);
CREATE INDEX deliveries_tenant_state_id ON deliveries (tenant, state, id DESC);
CREATE INDEX deliveries_lease ON deliveries (lease_expires_at) WHERE lease_token IS NOT NULL;

CREATE TABLE delivery_attempts (
  delivery_id      text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt          integer NOT NULL,
  trigger          text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
  started_at       bigint NOT NULL,
  duration_ms      bigint NOT NULL,
  status_code      integer,
  error            text,
  response_snippet text,
  PRIMARY KEY (delivery_id, attempt)
);

-- Successful-attempt durations, newest by id; trimmed to a bounded number per type as they are written.
CREATE TABLE duration_samples (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type        text NOT NULL,
  duration_ms bigint NOT NULL
);
CREATE INDEX duration_samples_type_id ON duration_samples (type, id DESC);

CREATE TABLE settings (
  key   text PRIMARY KEY,
  value text NOT NULL
);
