-- Owns: what the operator's reads need at a million stored operations: the count of operations per tenant, type and
-- status (GET /operations/counts and /metrics poll it), and the indexes the list filters and the key search walk.
-- Counting a million rows costs ~100 ms each poll. The counts are kept as rows of changes (+n, -n) that triggers append
-- in the writing transaction: appends never wait on each other, where one row per count would have every finish of a
-- type queue on it. Inserts and deletes append set-based (a statement trigger: one INSERT per statement, whatever it
-- inserted); a status change appends from a row trigger whose WHEN leaves out every other update (heartbeats, progress),
-- which would otherwise each call a statement trigger for nothing (a trigger with transition tables cannot name its
-- columns). A read sums the rows; foldCounts (operator-reads.ts) folds them into one per count under an advisory lock,
-- when a read finds many and at each prune, so they stay few.

CREATE TABLE operation_counts (
  tenant text   NOT NULL,
  type   text   NOT NULL,
  status text   NOT NULL,
  n      bigint NOT NULL
);

-- Writers of a node not yet upgraded must not change operations between the count and the commit.
LOCK TABLE operations IN SHARE MODE;
INSERT INTO operation_counts (tenant, type, status, n) SELECT tenant, type, status, count(*) FROM operations GROUP BY tenant, type, status;

CREATE FUNCTION operation_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n) SELECT tenant, type, status, count(*) FROM new_rows GROUP BY tenant, type, status;
  RETURN NULL;
END;
$$;

CREATE FUNCTION operation_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n) SELECT tenant, type, status, -count(*) FROM old_rows GROUP BY tenant, type, status;
  RETURN NULL;
END;
$$;

CREATE FUNCTION operation_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n) VALUES (OLD.tenant, OLD.type, OLD.status, -1), (NEW.tenant, NEW.type, NEW.status, 1);
  RETURN NULL;
END;
$$;

CREATE TRIGGER operation_counts_insert AFTER INSERT ON operations REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_inserted();
CREATE TRIGGER operation_counts_delete AFTER DELETE ON operations REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_deleted();
CREATE TRIGGER operation_counts_update AFTER UPDATE OF status ON operations
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION operation_counts_moved();

-- An admin's list of failed or cancelled operations across tenants, newest first (a tenant's has
-- operations_tenant_status_id): without it, a few failed among a million walk every operation. Only those two: the other
-- statuses are the newest operations or most of them, which a walk newest first meets at once, and an index on every
-- status would be what the planner takes for the expired leases and retention instead of theirs. A list names its status
-- as a literal, so the planner knows this index applies.
CREATE INDEX operations_failed_cancelled_id ON operations (status, id DESC) WHERE status IN ('failed', 'cancelled');

-- The search by idempotency key across tenants (an admin's `q`); a tenant's uses the primary key (tenant, key).
CREATE INDEX idempotency_keys_key ON idempotency_keys (key);

-- An admin's delivery list by state across tenants (the dead-letter list of every tenant); a tenant's has
-- deliveries_tenant_state_id.
CREATE INDEX deliveries_state_id ON deliveries (state, id DESC);
