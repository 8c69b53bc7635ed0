-- The SQL of POST /api/{user_id}/tasks: the task and its event in one
-- transaction (src/store/tasks_sql.c SQL_INSERT, src/store/events_sql.c SQL_APPEND).
\set uid random(1, :users)
BEGIN;
INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed, completed_at)
VALUES ('bench-w-' || :uid, 'bench task', 'created by scripts/bench.sh', 'medium', '{}'::text[],
        ('epoch'::timestamptz + NULL::bigint * interval '1 microsecond'), false,
        CASE WHEN false THEN now() END)
RETURNING id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version \gset
WITH next AS (INSERT INTO event_seqs (user_id, seq) VALUES ('bench-w-' || :uid, 1)
  ON CONFLICT (user_id) DO UPDATE SET seq = event_seqs.seq + 1 RETURNING seq)
INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq, correlation_id, data, version)
SELECT gen_random_uuid(), 'task.created', 'bench-w-' || :uid, :id::text, next.seq, gen_random_uuid()::text,
  '{"task": {"id": 0, "title": "bench task", "description": "created by scripts/bench.sh", "completed": false, "priority": "medium", "tags": [], "due_date": null}}'::jsonb,
  1 FROM next RETURNING seq;
COMMIT;
