-- Owns: the index behind the running attempts of a type (the ETA of its pending operations, read by status GETs).
-- Without it that read is a bitmap scan of operations_lease, which keeps the dead entries of every finished attempt
-- until vacuum (bitmap scans never mark them dead), so status GETs slow down as finished history grows. A plain index
-- scan of this one marks dead entries as it passes, so it stays short under churn (bench/README.md).
CREATE INDEX operations_running ON operations (type, started_at) WHERE status = 'processing';
