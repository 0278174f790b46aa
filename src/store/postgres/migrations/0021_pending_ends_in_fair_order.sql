-- Owns: keeping the reads of a type's least and greatest tenant pending (0014's and 0015's functions, 0016's
-- pending_turn_types) on operations_fair, whatever the statistics their plans are made with.
-- Why: with sorting off, ORDER BY tenant could still be answered by operations_tenant_id (tenant, id DESC), which holds
-- every operation: walking it from an end passes the tenant's finished operations before a pending one of the type. On a
-- table analysed while a backlog waited, with rows stored out of id order, the planner took that walk for the greatest
-- tenant at every claim, and a claim grew with each operation drained: 1.5 ms at the start of a drain of 20,000, 5.2 ms
-- at its end (bench/README.md, "The ends of a queue by its own index"). Ordered by tenant and then concurrency key, only
-- operations_fair answers without a sort, and incremental sorts, which an index in tenant order alone could feed, are
-- off too. Redefined whole, as CREATE OR REPLACE must be, with their settings.

CREATE OR REPLACE FUNCTION pending_tenant_least(p_type text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off SET enable_incremental_sort = off AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type ORDER BY tenant, concurrency_key LIMIT 1);
END
$$;

CREATE OR REPLACE FUNCTION pending_tenant_greatest(p_type text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off SET enable_incremental_sort = off AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type
    ORDER BY tenant DESC, concurrency_key DESC LIMIT 1);
END
$$;

CREATE OR REPLACE FUNCTION pending_tenants(p_type text, p_keyed boolean) RETURNS TABLE (tenant text, keyed boolean)
LANGUAGE plpgsql STABLE SET enable_sort = off SET enable_incremental_sort = off AS $$
DECLARE
  t text;
BEGIN
  t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type
    ORDER BY o.tenant, o.concurrency_key LIMIT 1);
  WHILE t IS NOT NULL LOOP
    tenant := t;
    keyed := CASE WHEN p_keyed THEN coalesce((SELECT o.concurrency_key FROM operations o
      WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = t ORDER BY o.concurrency_key DESC LIMIT 1) > '', false) END;
    RETURN NEXT;
    t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant > t
      ORDER BY o.tenant, o.concurrency_key LIMIT 1);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pending_turn_types(p_types text[]) RETURNS text[]
LANGUAGE plpgsql STABLE SET enable_sort = off SET enable_incremental_sort = off AS $$
DECLARE
  t text;
  first text;
  turns text[] := '{}';
BEGIN
  FOREACH t IN ARRAY p_types LOOP
    first := (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant, concurrency_key LIMIT 1);
    CONTINUE WHEN first IS NULL;
    IF (SELECT tenant FROM operations WHERE status = 'pending' AND type = t ORDER BY tenant DESC, concurrency_key DESC LIMIT 1) > first
      OR coalesce((SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = t AND tenant = first
        ORDER BY concurrency_key DESC LIMIT 1) > '', false) THEN
      turns := turns || t;
    END IF;
  END LOOP;
  RETURN turns;
END
$$;
