-- Owns: the trace context kept with an operation (the W3C traceparent and tracestate it was created in, which its first
-- attempt continues) and with a delivery (the trace its attempts join), and the dead-letter count's index.
-- Rows stored before have none: their spans start traces of their own.

ALTER TABLE operations ADD COLUMN traceparent text, ADD COLUMN tracestate text;
ALTER TABLE deliveries ADD COLUMN traceparent text, ADD COLUMN tracestate text;

-- The dead-letter depth (/metrics) counts only dead deliveries, however many were delivered.
CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
