-- Owns: the status counts' update trigger (0016) as a sum over each side of the move, not a join of the two.
-- Why: PL/pgSQL keeps a generic plan of the trigger's statement, made for the one- or two-row transition tables of a
-- claim or a heartbeat: a nested loop comparing every old row with every new one. A statement that moved many rows then
-- ran for minutes (after a few small updates on a connection, 5,000 rows took 1 s, 20,000 took 17 s, and retention's
-- marking of 120,000 expired results did not end in 15 minutes: walk h81). An operation's tenant and type never change,
-- so an old row's -1 and its new row's +1 cancel wherever its status did not move: summed per side, the statement is
-- linear in the rows whatever plan it keeps.
CREATE OR REPLACE FUNCTION operation_counts_moved() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
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
