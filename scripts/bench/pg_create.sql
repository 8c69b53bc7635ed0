-- The SQL of POST /api/{user_id}/tasks (src/store/tasks_sql.c, SQL_INSERT).
\set uid random(1, :users)
INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed, completed_at)
VALUES ('bench-w-' || :uid, 'bench task', 'created by scripts/bench.sh', 'medium', '{}'::text[],
        ('epoch'::timestamptz + NULL::bigint * interval '1 microsecond'), false,
        CASE WHEN false THEN now() END)
RETURNING id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version;
