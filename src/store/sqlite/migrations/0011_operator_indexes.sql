-- Owns: what the operator's reads need at a million stored operations: the count of operations per tenant, type and
-- status (GET /operations/counts and /metrics poll it), kept by triggers in the writing transaction as queue_depth is,
-- and the indexes the list filters and the key search walk.
-- Counting a million rows costs ~100 ms each poll; the counters cost one row write per insert, status change and delete.

CREATE TABLE operation_counts (
  tenant TEXT NOT NULL,
  type   TEXT NOT NULL,
  status TEXT NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (tenant, type, status)
) STRICT, WITHOUT ROWID;

INSERT INTO operation_counts (tenant, type, status, count) SELECT tenant, type, status, count(*) FROM operations GROUP BY tenant, type, status;

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

CREATE TRIGGER operation_counts_delete AFTER DELETE ON operations
BEGIN
  UPDATE operation_counts SET count = count - 1 WHERE tenant = OLD.tenant AND type = OLD.type AND status = OLD.status;
END;

-- An admin's list of failed or cancelled operations across tenants, newest first (a tenant's has
-- operations_tenant_status_id): without it, a few failed among a million walk every operation. Only those two: the other
-- statuses are the newest operations or most of them, which a walk newest first meets at once, and an index on every
-- status would be what the planner takes for the expired leases and retention instead of theirs. A list names its status
-- as a literal, so the planner knows this index applies (from `status = 'failed'` it infers an OR of it, not an IN).
CREATE INDEX operations_failed_cancelled_id ON operations (status, id DESC) WHERE status = 'failed' OR status = 'cancelled';

-- The search by idempotency key across tenants (an admin's `q`); a tenant's uses the primary key (tenant, key).
CREATE INDEX idempotency_keys_key ON idempotency_keys (key);

-- An admin's delivery list by state across tenants (the dead-letter list of every tenant); a tenant's has
-- deliveries_tenant_state_id.
CREATE INDEX deliveries_state_id ON deliveries (state, id DESC);
