-- Owns: the schedule_id of the operations a schedule's kept ticks created before 0020 added the column.
-- Why: a store upgraded past 0020 listed none of them under their schedule (GET /operations?schedule_id=…) while the
-- schedule's recent ticks named them. The ticks kept (the last few of each schedule) are all that says which
-- operations a tick made; earlier ones stay unattributed. The operation's version is left as it is: nothing about it
-- changed, only what is known of where it came from. A join, not a subquery per operation: schedule_ticks has no index
-- on operation_id, and a scan of it per operation took 50 s over 20,000 ticks, holding the store's lock.
UPDATE operations
SET schedule_id = t.schedule_id
FROM schedule_ticks t
WHERE t.operation_id = operations.id AND operations.schedule_id IS NULL;
