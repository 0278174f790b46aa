-- Owns: what the ETA learns from and counts with: the cost each operation declared on submit (its task's cost(input)),
-- an earlier progress point of the running attempt (its anchor: the recent rate is read from it to the latest), the cost
-- beside each duration sample (so the time per unit of cost is learnt), the worker nodes with their limits (so
-- every node's ETA counts the slots of the whole cluster, not its own configuration), positions counted in another type's
-- queue (types that share a global limit wait for each other), and the costs of the operations ahead of one.
-- Operations and samples stored before have no cost: the ETA reads them as work of unknown size. Nodes of an older
-- version store no cost and announce no limits; their operations and slots are estimated as such until they upgrade.

ALTER TABLE operations ADD COLUMN cost double precision;
ALTER TABLE operations ADD COLUMN progress_anchor double precision;
ALTER TABLE operations ADD COLUMN progress_anchor_at bigint;
ALTER TABLE duration_samples ADD COLUMN cost double precision;

-- One row per worker process, written every few seconds while it runs (domain/capacity.ts); type_limits maps task type
-- to how many of it the node runs at once.
CREATE TABLE worker_nodes (
  id          text PRIMARY KEY,
  concurrency integer NOT NULL,
  type_limits jsonb NOT NULL,
  seen_at     bigint NOT NULL
);

-- queue_position of migration 0003 for a key that is not one of p_type's operations (nothing is subtracted for the key
-- itself): how many runnable pending operations of another type run before an operation in claim order. Types that share
-- a global limit wait for each other's, in that order (a claim takes the earliest of the types with a free slot).
CREATE FUNCTION queue_position_among(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_from_tail boolean)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
  cap bigint := 128;
  tail boolean := p_from_tail;
  turns integer := 0;
  n bigint;
BEGIN
  IF p_run_at > p_now THEN
    -- Not due: ahead of it are the due operations of its priority and above, and nothing behind it counts.
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

-- The costs of the first p_limit operations of p_type ahead of (p_priority, p_run_at, p_id) in claim order, nearest first:
-- the due ones of a higher priority, then those of its priority before it (due ones only, as a claim takes them). Each walk
-- is in claim order on operations_claim and stops at p_limit rows.
CREATE FUNCTION queue_costs_ahead(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_limit integer)
RETURNS double precision[] LANGUAGE plpgsql STABLE AS $$
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
