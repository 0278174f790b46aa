-- Owns: an index of the operations that were redriven, for the ETA figures of the stats overview (operator-reads.ts:
-- ETAS), which leave them out (their first ETA was for another run).
-- Why: that test, `NOT EXISTS (… kind = 'redriven')`, was planned on an analysed history as a hashed anti-join over a
-- sequential scan of the whole history, at every poll of GET /stats/overview. Redrives are rare, so the index is small
-- and costs only a redrive's own history row.

CREATE INDEX operation_history_redriven ON operation_history (operation_id) WHERE kind = 'redriven';
