-- Owns: the walks over a type's tenants with operations pending (and whether each has a concurrency key pending), and
-- over a tenant's keys pending, each one call that steps from one to the next along operations_fair; replaces 0014's
-- per-step functions for them (pending-ends.ts calls these).
-- Why: a recursive query calling a function with a SET clause for each step paid for the setting at every call, twice
-- per tenant with the key check: a walk over 10,000 tenants took 173 to 205 ms where the subqueries of before took 107
-- to 112 ms. Here the setting is made once per walk and each step is a statement whose plan the function keeps (140 ms).

DROP FUNCTION pending_tenant_least(text, text);
DROP FUNCTION pending_key_least(text, text, text);

CREATE FUNCTION pending_tenant_least(p_type text) RETURNS text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
  RETURN (SELECT tenant FROM operations WHERE status = 'pending' AND type = p_type ORDER BY tenant LIMIT 1);
END
$$;

-- Each tenant with operations of the type pending, in order, and (when p_keyed) whether one of them has a key.
CREATE FUNCTION pending_tenants(p_type text, p_keyed boolean) RETURNS TABLE (tenant text, keyed boolean)
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
DECLARE
  t text;
BEGIN
  t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type ORDER BY o.tenant LIMIT 1);
  WHILE t IS NOT NULL LOOP
    tenant := t;
    keyed := CASE WHEN p_keyed THEN coalesce((SELECT o.concurrency_key FROM operations o
      WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = t ORDER BY o.concurrency_key DESC LIMIT 1) > '', false) END;
    RETURN NEXT;
    t := (SELECT o.tenant FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant > t ORDER BY o.tenant LIMIT 1);
  END LOOP;
END
$$;

-- The first p_max keys ('' for none) of the tenant's operations of the type pending, in order.
CREATE FUNCTION pending_keys(p_type text, p_tenant text, p_max integer) RETURNS SETOF text
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
DECLARE
  k text;
  n integer := 0;
BEGIN
  k := (SELECT o.concurrency_key FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = p_tenant
    ORDER BY o.concurrency_key LIMIT 1);
  WHILE k IS NOT NULL AND n < p_max LOOP
    RETURN NEXT k;
    n := n + 1;
    k := (SELECT o.concurrency_key FROM operations o WHERE o.status = 'pending' AND o.type = p_type AND o.tenant = p_tenant
      AND o.concurrency_key > k ORDER BY o.concurrency_key LIMIT 1);
  END LOOP;
END
$$;
