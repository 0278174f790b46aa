-- Owns: keeping the standing functions (queue_position of migration 0003, queue_position_among and queue_costs_ahead
-- of 0006) on the indexes over pending operations, whatever the statistics their plans are made with.
-- Why: operations holds every finished operation beside the pending ones, and these functions read pending ones only,
-- which the partial indexes operations_claim and operations_fair hold. A plan PL/pgSQL keeps for a function's statement
-- is made from the table's statistics; once the table was analysed with a backlog pending (autovacuum does so after a
-- burst of creates), the count of a type's later operations of a higher priority in queue_position was planned as a
-- sequential scan of the whole table with a sort, at every create and every uncached status read (bench/README.md, "A
-- plan kept from an analysed table"). With sequential scans off for their statements alone, the planner keeps to an
-- index; the setting costs each call a few microseconds. A later migration that redefines one of these functions
-- (CREATE OR REPLACE) drops the setting with the old definition, and states it again.

ALTER FUNCTION queue_position(text, integer, bigint, text, bigint, boolean) SET enable_seqscan = off;
ALTER FUNCTION queue_position_among(text, integer, bigint, text, bigint, boolean) SET enable_seqscan = off;
ALTER FUNCTION queue_costs_ahead(text, integer, bigint, text, bigint, integer) SET enable_seqscan = off;
