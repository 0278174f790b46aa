-- Owns: the search path of every function the store defines, set to the schema they were made in.
-- Why: their bodies name tables unqualified, and a function without its own search path resolves them through its
-- caller's. A statement from outside the store (a DBA's DELETE FROM "app".operations, with the default search path)
-- fired the counts triggers against `public`: another installation's counts changed there, or the statement failed.
-- FROM CURRENT takes the migration's own search path, which is the installation's schema (clientConfig sets it).
ALTER FUNCTION operation_counts_inserted() SET search_path FROM CURRENT;
ALTER FUNCTION operation_counts_deleted() SET search_path FROM CURRENT;
ALTER FUNCTION operation_counts_moved() SET search_path FROM CURRENT;
ALTER FUNCTION note_estimates(text[], bigint[]) SET search_path FROM CURRENT;
ALTER FUNCTION pending_keys(text, text, integer) SET search_path FROM CURRENT;
ALTER FUNCTION pending_tenant_greatest(text) SET search_path FROM CURRENT;
ALTER FUNCTION pending_tenant_least(text) SET search_path FROM CURRENT;
ALTER FUNCTION pending_tenants(text, boolean) SET search_path FROM CURRENT;
ALTER FUNCTION pending_turn_types(text[]) SET search_path FROM CURRENT;
ALTER FUNCTION queue_costs_ahead(text, integer, bigint, text, bigint, integer) SET search_path FROM CURRENT;
ALTER FUNCTION queue_position(text, integer, bigint, text, bigint, boolean) SET search_path FROM CURRENT;
ALTER FUNCTION queue_position_among(text, integer, bigint, text, bigint, boolean) SET search_path FROM CURRENT;
