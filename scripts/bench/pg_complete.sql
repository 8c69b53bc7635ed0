-- The SQL of PATCH /api/{user_id}/tasks/{id}/complete: lock, update and the
-- event in one transaction (src/store/tasks_sql.c, src/store/events_sql.c).
\set n random(1, :tasks)
\set uid (:n - 1) / 50 + 1
\set id :base + :n - 1
BEGIN;
SELECT id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version
FROM tasks WHERE id = :id AND user_id = 'bench-r-' || :uid FOR UPDATE;
UPDATE tasks SET
  title = CASE WHEN false THEN NULL ELSE title END,
  description = CASE WHEN false THEN NULL ELSE description END,
  priority = CASE WHEN false THEN NULL ELSE priority END,
  tags = CASE WHEN false THEN NULL::text[] ELSE tags END,
  due_date = CASE WHEN false THEN NULL ELSE due_date END,
  completed = CASE WHEN true THEN true ELSE completed END,
  completed_at = CASE WHEN NOT true THEN completed_at
    WHEN true AND NOT completed THEN greatest(updated_at, ('epoch'::timestamptz + 1795000000000000::bigint * interval '1 microsecond'))
    WHEN true THEN completed_at END,
  updated_at = greatest(updated_at, ('epoch'::timestamptz + 1795000000000000::bigint * interval '1 microsecond')),
  version = version + 1
WHERE id = :id AND user_id = 'bench-r-' || :uid
  AND (NULL::integer IS NULL OR version = NULL::integer) AND (NULL::integer IS NULL OR version = NULL::integer)
RETURNING id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version;
WITH next AS (INSERT INTO event_seqs (user_id, seq) VALUES ('bench-r-' || :uid, 1)
  ON CONFLICT (user_id) DO UPDATE SET seq = event_seqs.seq + 1 RETURNING seq),
e AS (INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq, correlation_id, data, version)
  SELECT gen_random_uuid(), 'task.completed', 'bench-r-' || :uid, :id::text, next.seq, gen_random_uuid()::text,
    '{"task": {"id": 0, "title": "seed task", "completed": true, "priority": "medium", "tags": [], "due_date": null}, "changed_fields": ["completed"]}'::jsonb,
    1 FROM next RETURNING id, seq),
outbox AS (INSERT INTO event_outbox (id) SELECT id FROM e)
SELECT seq FROM e;
COMMIT;
