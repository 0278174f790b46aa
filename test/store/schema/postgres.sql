CREATE TABLE bulk_actions (
  id text COLLATE "C" NOT NULL,
  action text COLLATE "C" NOT NULL,
  filter text COLLATE "C" NOT NULL,
  tenant text COLLATE "C",
  status text COLLATE "C" NOT NULL,
  total integer NOT NULL,
  processed integer DEFAULT 0 NOT NULL,
  succeeded integer DEFAULT 0 NOT NULL,
  skipped integer DEFAULT 0 NOT NULL,
  created_by text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  error_code text COLLATE "C",
  error_message text COLLATE "C",
  cursor text COLLATE "C",
  lease_token text COLLATE "C",
  lease_expires_at bigint,
  CONSTRAINT bulk_actions_action_check CHECK ((action = ANY (ARRAY['retry'::text, 'cancel'::text, 'delete'::text, 'replay_deliveries'::text]))),
  CONSTRAINT bulk_actions_pkey PRIMARY KEY (id),
  CONSTRAINT bulk_actions_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'processing'::text, 'completed'::text, 'failed'::text])))
);

CREATE TABLE deliveries (
  id text COLLATE "C" NOT NULL,
  message_id text COLLATE "C" NOT NULL,
  operation_id text COLLATE "C" NOT NULL,
  tenant text COLLATE "C" NOT NULL,
  url text COLLATE "C" NOT NULL,
  event_type text COLLATE "C" NOT NULL,
  payload text COLLATE "C" NOT NULL,
  state text COLLATE "C" NOT NULL,
  attempt_count integer DEFAULT 0 NOT NULL,
  schedule_attempt integer DEFAULT 0 NOT NULL,
  next_attempt_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  last_status_code integer,
  last_error text COLLATE "C",
  lease_token text COLLATE "C",
  lease_expires_at bigint,
  worker_id text COLLATE "C",
  manual boolean DEFAULT false NOT NULL,
  destination text COLLATE "C",
  traceparent text COLLATE "C",
  tracestate text COLLATE "C",
  superseded boolean DEFAULT false NOT NULL,
  CONSTRAINT deliveries_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations(id) ON DELETE CASCADE,
  CONSTRAINT deliveries_pkey PRIMARY KEY (id),
  CONSTRAINT deliveries_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'delivered'::text, 'retrying'::text, 'dead'::text])))
);

CREATE TABLE delivery_attempts (
  delivery_id text COLLATE "C" NOT NULL,
  attempt integer NOT NULL,
  trigger text COLLATE "C" NOT NULL,
  started_at bigint NOT NULL,
  duration_ms bigint NOT NULL,
  status_code integer,
  error text COLLATE "C",
  response_snippet text COLLATE "C",
  CONSTRAINT delivery_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES deliveries(id) ON DELETE CASCADE,
  CONSTRAINT delivery_attempts_pkey PRIMARY KEY (delivery_id, attempt),
  CONSTRAINT delivery_attempts_trigger_check CHECK ((trigger = ANY (ARRAY['scheduled'::text, 'manual'::text])))
);

CREATE TABLE duration_samples (
  id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
  type text COLLATE "C" NOT NULL,
  duration_ms bigint NOT NULL,
  cost double precision,
  CONSTRAINT duration_samples_pkey PRIMARY KEY (id)
);

CREATE TABLE fair_keys (
  type text COLLATE "C" NOT NULL,
  tenant text COLLATE "C" NOT NULL,
  concurrency_key text COLLATE "C" NOT NULL,
  pass double precision NOT NULL,
  CONSTRAINT fair_keys_pkey PRIMARY KEY (type, tenant, concurrency_key)
);

CREATE TABLE fair_tenants (
  type text COLLATE "C" NOT NULL,
  tenant text COLLATE "C" NOT NULL,
  pass double precision NOT NULL,
  CONSTRAINT fair_tenants_pkey PRIMARY KEY (type, tenant)
);

CREATE TABLE idempotency_keys (
  tenant text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  fingerprint text COLLATE "C" NOT NULL,
  operation_id text COLLATE "C" NOT NULL,
  expires_at bigint NOT NULL,
  CONSTRAINT idempotency_keys_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations(id) ON DELETE CASCADE,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant, key)
);

CREATE TABLE operation_counts (
  tenant text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL,
  n bigint NOT NULL
);

CREATE TABLE operation_history (
  seq bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
  operation_id text COLLATE "C" NOT NULL,
  at bigint NOT NULL,
  kind text COLLATE "C" NOT NULL,
  data jsonb NOT NULL,
  CONSTRAINT operation_history_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations(id) ON DELETE CASCADE,
  CONSTRAINT operation_history_pkey PRIMARY KEY (operation_id, seq)
);

CREATE TABLE operations (
  id text COLLATE "C" NOT NULL,
  tenant text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  status text COLLATE "C" NOT NULL,
  input text COLLATE "C" NOT NULL,
  progress double precision,
  progress_message text COLLATE "C",
  attempt integer NOT NULL,
  max_attempts integer NOT NULL,
  priority integer NOT NULL,
  timeout_s integer NOT NULL,
  run_at bigint NOT NULL,
  created_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  updated_at bigint NOT NULL,
  error_code text COLLATE "C",
  error_message text COLLATE "C",
  webhook_url text COLLATE "C",
  cancel_requested boolean DEFAULT false NOT NULL,
  lease_token text COLLATE "C",
  lease_expires_at bigint,
  worker_id text COLLATE "C",
  result_expired boolean DEFAULT false NOT NULL,
  version integer DEFAULT 1 NOT NULL,
  cost double precision,
  progress_anchor double precision,
  progress_anchor_at bigint,
  traceparent text COLLATE "C",
  tracestate text COLLATE "C",
  concurrency_key text COLLATE "C" DEFAULT ''::text NOT NULL,
  finished_version bigint,
  redriven_at bigint,
  schedule_id text COLLATE "C",
  CONSTRAINT operations_pkey PRIMARY KEY (id),
  CONSTRAINT operations_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'processing'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])))
);

CREATE TABLE queue_depth (
  type text COLLATE "C" NOT NULL,
  shard integer NOT NULL,
  pending bigint NOT NULL,
  CONSTRAINT queue_depth_pkey PRIMARY KEY (type, shard)
);

CREATE TABLE rate_limits (
  type text COLLATE "C" NOT NULL,
  bucket_key text COLLATE "C" DEFAULT ''::text NOT NULL,
  tokens double precision NOT NULL,
  updated_at bigint NOT NULL,
  held_until bigint DEFAULT 0 NOT NULL,
  CONSTRAINT rate_limits_pkey PRIMARY KEY (type, bucket_key)
);

CREATE TABLE results (
  operation_id text COLLATE "C" NOT NULL,
  content_type text COLLATE "C" NOT NULL,
  body bytea NOT NULL,
  CONSTRAINT results_operation_id_fkey FOREIGN KEY (operation_id) REFERENCES operations(id) ON DELETE CASCADE,
  CONSTRAINT results_pkey PRIMARY KEY (operation_id)
);

CREATE TABLE schedule_ticks (
  schedule_id text COLLATE "C" NOT NULL,
  tick bigint NOT NULL,
  operation_id text COLLATE "C",
  skipped bigint NOT NULL,
  fired_at bigint NOT NULL,
  CONSTRAINT schedule_ticks_pkey PRIMARY KEY (schedule_id, tick),
  CONSTRAINT schedule_ticks_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES schedules(id) ON DELETE CASCADE
);

CREATE TABLE schedules (
  id text COLLATE "C" NOT NULL,
  tenant text COLLATE "C" NOT NULL,
  type text COLLATE "C" NOT NULL,
  input text COLLATE "C" NOT NULL,
  cron text COLLATE "C" NOT NULL,
  timezone text COLLATE "C" NOT NULL,
  webhook_url text COLLATE "C",
  paused boolean DEFAULT false NOT NULL,
  next_run_at bigint,
  last_run_at bigint,
  skipped_ticks bigint DEFAULT 0 NOT NULL,
  origin text COLLATE "C" NOT NULL,
  declared_key text COLLATE "C",
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  idempotency_key text COLLATE "C",
  request_fingerprint text COLLATE "C",
  priority integer DEFAULT 0 NOT NULL,
  CONSTRAINT schedules_declared_key_key UNIQUE (declared_key),
  CONSTRAINT schedules_origin_check CHECK ((origin = ANY (ARRAY['api'::text, 'task'::text]))),
  CONSTRAINT schedules_pkey PRIMARY KEY (id)
);

CREATE TABLE schema_migrations (
  version integer NOT NULL,
  name text NOT NULL,
  applied_at bigint NOT NULL,
  CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);

CREATE TABLE settings (
  key text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
  CONSTRAINT settings_pkey PRIMARY KEY (key)
);

CREATE TABLE worker_nodes (
  id text COLLATE "C" NOT NULL,
  concurrency integer NOT NULL,
  type_limits jsonb NOT NULL,
  seen_at bigint NOT NULL,
  CONSTRAINT worker_nodes_pkey PRIMARY KEY (id)
);

CREATE INDEX bulk_actions_tenant_id ON bulk_actions USING btree (tenant, id DESC);
CREATE INDEX bulk_actions_unfinished ON bulk_actions USING btree (created_at, id) WHERE (status = ANY (ARRAY['pending'::text, 'processing'::text]));
CREATE INDEX deliveries_dead ON deliveries USING btree (id) WHERE (state = 'dead'::text);
CREATE INDEX deliveries_due ON deliveries USING btree (next_attempt_at) WHERE (state = ANY (ARRAY['pending'::text, 'retrying'::text]));
CREATE INDEX deliveries_lease ON deliveries USING btree (lease_expires_at) WHERE (lease_token IS NOT NULL);
CREATE INDEX deliveries_operation ON deliveries USING btree (operation_id, created_at);
CREATE INDEX deliveries_state_id ON deliveries USING btree (state, id DESC);
CREATE INDEX deliveries_superseded_undelivered ON deliveries USING btree (id) WHERE (superseded AND (state = ANY (ARRAY['pending'::text, 'retrying'::text])));
CREATE INDEX deliveries_tenant_id ON deliveries USING btree (tenant, id DESC);
CREATE INDEX deliveries_tenant_state_id ON deliveries USING btree (tenant, state, id DESC);
CREATE INDEX duration_samples_type_id ON duration_samples USING btree (type, id DESC);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys USING btree (expires_at);
CREATE INDEX idempotency_keys_key ON idempotency_keys USING btree (key);
CREATE INDEX idempotency_keys_operation ON idempotency_keys USING btree (operation_id);
CREATE INDEX operation_history_created_key ON operation_history USING btree (((data ->> 'idempotency_key'::text))) WHERE ((kind = 'created'::text) AND ((data ->> 'idempotency_key'::text) IS NOT NULL));
CREATE INDEX operation_history_redriven ON operation_history USING btree (operation_id) WHERE (kind = 'redriven'::text);
CREATE INDEX operations_claim ON operations USING btree (type, priority DESC, run_at, id) WHERE (status = 'pending'::text);
CREATE INDEX operations_error_code_id ON operations USING btree (error_code, id DESC) WHERE (error_code IS NOT NULL);
CREATE INDEX operations_failed_cancelled_id ON operations USING btree (status, id DESC) WHERE (status = ANY (ARRAY['failed'::text, 'cancelled'::text]));
CREATE INDEX operations_fair ON operations USING btree (type, tenant, concurrency_key, priority DESC, run_at, id) WHERE (status = 'pending'::text);
CREATE INDEX operations_finished_at ON operations USING btree (finished_at) WHERE (finished_at IS NOT NULL);
CREATE INDEX operations_key_running ON operations USING btree (type, tenant, concurrency_key) WHERE ((status = 'processing'::text) AND (concurrency_key <> ''::text));
CREATE INDEX operations_lease ON operations USING btree (lease_expires_at) WHERE (status = 'processing'::text);
CREATE INDEX operations_running ON operations USING btree (type, started_at) WHERE (status = 'processing'::text);
CREATE INDEX operations_schedule_id ON operations USING btree (schedule_id, id DESC) WHERE (schedule_id IS NOT NULL);
CREATE INDEX operations_tenant_error_code_id ON operations USING btree (tenant, error_code, id DESC) WHERE (error_code IS NOT NULL);
CREATE INDEX operations_tenant_id ON operations USING btree (tenant, id DESC);
CREATE INDEX operations_tenant_status_id ON operations USING btree (tenant, status, id DESC);
CREATE INDEX schedules_due ON schedules USING btree (next_run_at) WHERE ((NOT paused) AND (next_run_at IS NOT NULL));
CREATE UNIQUE INDEX schedules_idempotency ON schedules USING btree (tenant, idempotency_key) WHERE (idempotency_key IS NOT NULL);
CREATE INDEX schedules_tenant ON schedules USING btree (tenant, id);

CREATE TRIGGER operation_counts_delete AFTER DELETE ON operations REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_deleted();
CREATE TRIGGER operation_counts_insert AFTER INSERT ON operations REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_inserted();
CREATE TRIGGER operation_counts_update AFTER UPDATE ON operations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_moved();

CREATE FUNCTION note_estimates(p_ids text[], p_ats bigint[]) RETURNS void LANGUAGE plpgsql VOLATILE SET search_path = <its schema> AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
    UPDATE operation_history h SET data = h.data || jsonb_build_object('estimated_completion_at', p_ats[i])
    WHERE h.operation_id = p_ids[i] AND h.kind = 'created'
      AND h.seq = (SELECT min(c.seq) FROM operation_history c WHERE c.operation_id = p_ids[i]);
  END LOOP;
END
$$;

CREATE FUNCTION operation_counts_deleted() RETURNS trigger LANGUAGE plpgsql VOLATILE SET search_path = <its schema> AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n) SELECT tenant, type, status, -count(*) FROM old_rows GROUP BY tenant, type, status;
  RETURN NULL;
END;
$$;

CREATE FUNCTION operation_counts_inserted() RETURNS trigger LANGUAGE plpgsql VOLATILE SET search_path = <its schema> AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n) SELECT tenant, type, status, count(*) FROM new_rows GROUP BY tenant, type, status;
  RETURN NULL;
END;
$$;

CREATE FUNCTION operation_counts_moved() RETURNS trigger LANGUAGE plpgsql VOLATILE SET search_path = <its schema> AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n)
  SELECT m.tenant, m.type, m.status, sum(m.n)
  FROM (
    SELECT o.tenant, o.type, o.status, -1 AS n FROM old_rows o
    UNION ALL
    SELECT w.tenant, w.type, w.status, 1 AS n FROM new_rows w
  ) AS m
  GROUP BY m.tenant, m.type, m.status
  HAVING sum(m.n) <> 0;
  RETURN NULL;
END;
$$;

CREATE FUNCTION pending_keys(p_type text, p_tenant text, p_max integer) RETURNS SETOF text LANGUAGE plpgsql STABLE SET enable_sort = off SET search_path = <its schema> AS $$
DECLARE
  k text;
  n integer := 0;
BEGIN
  k := (SELECT o.concurrency_key FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = p_tenant
    ORDER BY o.concurrency_key LIMIT 1);
  WHILE k IS NOT NULL AND n < p_max LOOP
    RETURN NEXT k;
    n := n + 1;
    k := (SELECT o.concurrency_key FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = p_tenant
      AND o.concurrency_key > k ORDER BY o.concurrency_key LIMIT 1);
  END LOOP;
END
$$;

CREATE FUNCTION pending_tenant_greatest(p_type text) RETURNS text LANGUAGE plpgsql STABLE SET enable_incremental_sort = off SET enable_sort = off SET search_path = <its schema> AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type
    ORDER BY tenant DESC, concurrency_key DESC LIMIT 1);
END
$$;

CREATE FUNCTION pending_tenant_least(p_type text) RETURNS text LANGUAGE plpgsql STABLE SET enable_incremental_sort = off SET enable_sort = off SET search_path = <its schema> AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type ORDER BY tenant, concurrency_key LIMIT 1);
END
$$;

CREATE FUNCTION pending_tenants(p_type text, p_keyed boolean) RETURNS TABLE(tenant text, keyed boolean) LANGUAGE plpgsql STABLE SET enable_incremental_sort = off SET enable_sort = off SET search_path = <its schema> AS $$
DECLARE
  t text;
BEGIN
  t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type
    ORDER BY o.tenant, o.concurrency_key LIMIT 1);
  WHILE t IS NOT NULL LOOP
    tenant := t;
    keyed := CASE WHEN p_keyed THEN coalesce((SELECT o.concurrency_key FROM operations o
      WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = t ORDER BY o.concurrency_key DESC LIMIT 1) > '', false) END;
    RETURN NEXT;
    t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant > t
      ORDER BY o.tenant, o.concurrency_key LIMIT 1);
  END LOOP;
END
$$;

CREATE FUNCTION pending_turn_types(p_types text[]) RETURNS text[] LANGUAGE plpgsql STABLE SET enable_incremental_sort = off SET enable_sort = off SET search_path = <its schema> AS $$
DECLARE
  t text;
  first text;
  turns text[] := '{}';
BEGIN
  FOREACH t IN ARRAY p_types LOOP
    first := (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant, concurrency_key LIMIT 1);
    CONTINUE WHEN first IS NULL;
    IF (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant DESC, concurrency_key DESC LIMIT 1) > first
      OR coalesce((SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = t AND tenant = first
        ORDER BY concurrency_key DESC LIMIT 1) > '', false) THEN
      turns := turns || t;
    END IF;
  END LOOP;
  RETURN turns;
END
$$;

CREATE FUNCTION queue_costs_ahead(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_limit integer) RETURNS double precision[] LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path = <its schema> AS $$
BEGIN
  IF p_limit <= 0 THEN
    RETURN '{}';
  END IF;
  RETURN ARRAY(SELECT ahead.cost FROM (
    (SELECT priority, run_at, id, cost FROM operations WHERE status = 'pending' AND type = p_type AND priority > p_priority AND run_at <= p_now
       ORDER BY priority DESC, run_at, id LIMIT p_limit)
    UNION ALL
    (SELECT priority, run_at, id, cost FROM operations WHERE status = 'pending' AND type = p_type AND priority = p_priority
       AND (run_at, id) < (p_run_at, p_id) AND run_at <= p_now
       ORDER BY priority DESC, run_at, id LIMIT p_limit)) ahead
    ORDER BY ahead.priority DESC, ahead.run_at, ahead.id LIMIT p_limit);
END
$$;

CREATE FUNCTION queue_position(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_from_tail boolean) RETURNS bigint LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path = <its schema> AS $$
DECLARE
  cap bigint := 128;
  tail boolean := p_from_tail;
  turns integer := 0;
  n bigint;
BEGIN
  IF p_run_at > p_now THEN
    RETURN (SELECT count(*) FROM (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority >= p_priority
             AND run_at <= p_now ORDER BY priority DESC, run_at, id) due);
  END IF;
  LOOP
    IF tail THEN
      SELECT count(*) INTO n FROM (
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority = p_priority AND (run_at, id) > (p_run_at, p_id)
           ORDER BY priority DESC, run_at, id LIMIT cap)
        UNION ALL
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority < p_priority
           ORDER BY priority DESC, run_at, id LIMIT cap)) behind;
      IF n < cap THEN
        RETURN greatest(0, (SELECT coalesce(sum(pending), 0) FROM queue_depth WHERE type = p_type) - 1 - n
          - (SELECT count(*) FROM (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority > p_priority
               AND run_at > p_now ORDER BY priority DESC, run_at, id) later));
      END IF;
    ELSE
      SELECT count(*) INTO n FROM (
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority > p_priority AND run_at <= p_now
           ORDER BY priority DESC, run_at, id LIMIT cap)
        UNION ALL
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority = p_priority AND (run_at, id) < (p_run_at, p_id)
           ORDER BY priority DESC, run_at, id LIMIT cap)) ahead;
      IF n < cap THEN
        RETURN n;
      END IF;
    END IF;
    tail := NOT tail;
    turns := turns + 1;
    IF turns % 2 = 0 THEN
      cap := cap * 8;
    END IF;
  END LOOP;
END
$$;

CREATE FUNCTION queue_position_among(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_from_tail boolean) RETURNS bigint LANGUAGE plpgsql STABLE SET enable_seqscan = off SET search_path = <its schema> AS $$
DECLARE
  cap bigint := 128;
  tail boolean := p_from_tail;
  turns integer := 0;
  n bigint;
BEGIN
  IF p_run_at > p_now THEN
    RETURN (SELECT count(*) FROM (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority >= p_priority
             AND run_at <= p_now ORDER BY priority DESC, run_at, id) due);
  END IF;
  LOOP
    IF tail THEN
      SELECT count(*) INTO n FROM (
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority = p_priority AND (run_at, id) > (p_run_at, p_id)
           ORDER BY priority DESC, run_at, id LIMIT cap)
        UNION ALL
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority < p_priority
           ORDER BY priority DESC, run_at, id LIMIT cap)) behind;
      IF n < cap THEN
        RETURN greatest(0, (SELECT coalesce(sum(pending), 0) FROM queue_depth WHERE type = p_type) - n
          - (SELECT count(*) FROM (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority > p_priority
               AND run_at > p_now ORDER BY priority DESC, run_at, id) later));
      END IF;
    ELSE
      SELECT count(*) INTO n FROM (
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority > p_priority AND run_at <= p_now
           ORDER BY priority DESC, run_at, id LIMIT cap)
        UNION ALL
        (SELECT 1 FROM operations WHERE status = 'pending' AND type = p_type AND priority = p_priority AND (run_at, id) < (p_run_at, p_id)
           ORDER BY priority DESC, run_at, id LIMIT cap)) ahead;
      IF n < cap THEN
        RETURN n;
      END IF;
    END IF;
    tail := NOT tail;
    turns := turns + 1;
    IF turns % 2 = 0 THEN
      cap := cap * 8;
    END IF;
  END LOOP;
END
$$;
