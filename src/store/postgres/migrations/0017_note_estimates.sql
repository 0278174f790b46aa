-- Owns: noting the ETA a create's reply gave on the operation's `created` event, for a group of creates in one call
-- (history.ts: noteEstimates).
-- Why a function: as one statement over the arrays the note had to be planned at every call, since a plan kept from a
-- small table hashed the whole history at every note (bench/README.md, "Plans made on an empty table"), and planning
-- was 44 % of its time (bench/README.md, "The ETA note keeps its plan"). Here each operation's note is an update by its
-- primary key, whose plan (kept by the function for the connection) is a probe of the key whatever the history's size
-- when it was made.

CREATE FUNCTION note_estimates(p_ids text[], p_ats bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
    UPDATE operation_history h SET data = h.data || jsonb_build_object('estimated_completion_at', p_ats[i])
    WHERE h.operation_id = p_ids[i] AND h.kind = 'created'
      AND h.seq = (SELECT min(c.seq) FROM operation_history c WHERE c.operation_id = p_ids[i]);
  END LOOP;
END
$$;
