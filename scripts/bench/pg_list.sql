-- The SQL of GET /api/{user_id}/tasks with its defaults (src/store/tasks_sql.c, tasks_list).
\set uid random(1, :users)
SELECT id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version,
  (extract(epoch FROM created_at) * 1000000)::bigint::text
FROM tasks WHERE user_id = 'bench-r-' || :uid
ORDER BY created_at DESC, id DESC LIMIT 51;
