-- Owns: what a claim of many operations pays once rather than per operation or per type: the status counts appended
-- once per statement (one row per tenant, type and status moved), and one call that names the types whose turns go
-- round (pending-ends.ts: pendingTurnTypes; a claim of those takes turns, fair-claim.ts).
-- Why: in a drain on PostgreSQL the database is the bottleneck (about twice the worker's CPU); the after-row triggers
-- (0013's count trigger, a plpgsql call and an INSERT of two rows for each operation claimed or ended, and the history
-- rows' foreign-key checks) were 23 % of its CPU, and the calls of a claim's turn check (one to three per type asked
-- for, each paying its SET clause) 11 % (bench/README.md, "A claim pays per statement").

-- A statement trigger sees every row a statement moved, so a claim of ten appends one row per count, not twenty. It runs
-- for every UPDATE of operations, heartbeats and progress included (one with transition tables cannot name its
-- columns); for those it joins two one-row sets and appends nothing.
DROP TRIGGER operation_counts_update ON operations;
DROP FUNCTION operation_counts_moved();

CREATE FUNCTION operation_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO operation_counts (tenant, type, status, n)
  SELECT m.tenant, m.type, m.status, sum(m.n)
  FROM old_rows o JOIN new_rows w ON w.id = o.id
  CROSS JOIN LATERAL (VALUES (o.tenant, o.type, o.status, -1), (w.tenant, w.type, w.status, 1)) AS m(tenant, type, status, n)
  WHERE o.status <> w.status
  GROUP BY m.tenant, m.type, m.status
  HAVING sum(m.n) <> 0;
  RETURN NULL;
END;
$$;

CREATE TRIGGER operation_counts_update AFTER UPDATE ON operations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_moved();

-- Of `p_types`, those where turns go round: a second tenant, or a concurrency key, pending. The probes of 0014 at the
-- ends of operations_fair, in one call with one setting for the whole claim.
CREATE FUNCTION pending_turn_types(p_types text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
DECLARE
  t text;
  first text;
  turns text[] := '{}';
BEGIN
  FOREACH t IN ARRAY p_types LOOP
    first := (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant LIMIT 1);
    CONTINUE WHEN first IS NULL;
    IF (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant DESC LIMIT 1) > first
      OR coalesce((SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = t AND tenant = first
        ORDER BY concurrency_key DESC LIMIT 1) > '', false) THEN
      turns := turns || t;
    END IF;
  END LOOP;
  RETURN turns;
END
$$;

DROP FUNCTION pending_key_greatest(text, text);
