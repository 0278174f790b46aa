-- Owns: a repair: the tenant's error-code index on stores that applied 0012 before it held that index.
-- Why: 0012 gained its second index after its first release (2026-12-05, 22:36–23:00), so a store migrated then has
-- only the every-tenant one, and a tenant's list by error code walks every tenant's operations with the code. Released
-- migrations are never edited since (test/store/migrations.test.ts); where 0012 made it, this does nothing.
CREATE INDEX IF NOT EXISTS operations_tenant_error_code_id ON operations (tenant, error_code, id DESC) WHERE error_code IS NOT NULL;
