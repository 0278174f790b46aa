-- Owns: the pending count per type that queue positions are read from, the function that reads positions, and one
-- index (not two) over pending operations.
-- A new operation joins the tail of its type's queue, so counting the operations ahead of it walked the whole queue;
-- the count of the type less the few behind it costs what is behind, and that is nothing at the tail.
-- Every statement that moves operations into or out of pending adds its change here (standing.ts's depthChange, carried
-- by transitions.ts, operations.ts and insert-group.ts), in one of several rows per type drawn at random, so concurrent
-- writers rarely wait on one row. Nodes of an older version do not, so every node must be upgraded together (stop
-- them all, then start the new version, which migrates).

CREATE TABLE queue_depth (
  type    text    NOT NULL,
  shard   integer NOT NULL,
  pending bigint  NOT NULL,
  PRIMARY KEY (type, shard)
);

-- Writers of a node not yet upgraded must not change pending operations between the count and the commit.
LOCK TABLE operations IN SHARE MODE;
INSERT INTO queue_depth (type, shard, pending) SELECT type, 0, count(*) FROM operations WHERE status = 'pending' GROUP BY type;

-- Pending operations have one index, operations_claim, so every plan that walks them takes it, whatever the statistics
-- say: with the one on run_at beside it, a claim planned from statistics taken while nothing was pending could walk the
-- whole queue by run_at and sort it (bench/README.md).
DROP INDEX operations_pending_run_at;

-- The position of pending operation (type, priority, run_at, id) at `now`: runnable pending operations of its type ahead
-- of it in claim order (priority desc, run_at, id). Exact, at a cost that follows the shorter side: it counts ahead and
-- behind (all pending of the type but itself, less those behind, less those of a higher priority not due yet) in turns,
-- each up to a bound that grows eightfold every second turn, and takes the first count that ends within its bound.
-- `from_tail` starts behind, where a just inserted operation is.
-- A function, not one statement: one statement of ten subqueries on operations is planned anew on every call, at
-- several times the cost of its work; here each small query keeps its plan for the life of the connection. Each walk is
-- in claim order on operations_claim, with one bound per side: a second bound on run_at beside a row comparison lets
-- the scan walk the whole priority and filter it. No other index covers these walks, so no plan made without
-- statistics can filter a type's whole queue instead (bench/README.md).
CREATE FUNCTION queue_position(p_type text, p_priority integer, p_run_at bigint, p_id text, p_now bigint, p_from_tail boolean)
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
