-- Owns: the reads of the least and the greatest tenant with operations of a type pending, and of a tenant's least and
-- greatest concurrency key pending, each one probe at an end of operations_fair (pending-ends.ts calls them).
-- Why functions: min(tenant) over a type's pending operations can be read at the end of operations_fair or by
-- aggregating the type's whole queue, and ORDER BY tenant LIMIT 1 by that probe or by sorting the whole queue; the
-- planner takes the walk whenever it reckons a type has one pending row, as it does on a table never analysed
-- (autovacuum off, or the first minute of a busy store): 20 to 30 ms at 18,000 pending on a status read, which a claim
-- or a create planned the same way would pay too (bench/README.md, "min() walked the queue"). With sorting off, only an
-- index in tenant (or key) order can answer ORDER BY, and operations_fair is the one that starts with the type. plpgsql
-- keeps each statement's plan for the connection, and each branch is a statement of its own, so no plan serves both.

CREATE FUNCTION pending_tenant_least(p_type text, p_after text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
  IF p_after IS NULL THEN
    RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type ORDER BY tenant LIMIT 1);
  END IF;
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type AND tenant > p_after ORDER BY tenant LIMIT 1);
END
$$;

CREATE FUNCTION pending_tenant_greatest(p_type text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type ORDER BY tenant DESC LIMIT 1);
END
$$;

CREATE FUNCTION pending_key_least(p_type text, p_tenant text, p_after text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
  IF p_after IS NULL THEN
    RETURN (SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = p_type AND tenant = p_tenant
      ORDER BY concurrency_key LIMIT 1);
  END IF;
  RETURN (SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = p_type AND tenant = p_tenant
    AND concurrency_key > p_after ORDER BY concurrency_key LIMIT 1);
END
$$;

CREATE FUNCTION pending_key_greatest(p_type text, p_tenant text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
  RETURN (SELECT concurrency_key FROM operations WHERE status = 'pending' AND type = p_type AND tenant = p_tenant
    ORDER BY concurrency_key DESC LIMIT 1);
END
$$;
