-- The SQL of PATCH /api/{user_id}/tasks/{id}/complete (src/store/tasks_sql.c, SQL_UPDATE).
\set n random(1, :tasks)
\set uid (:n - 1) / 50 + 1
\set id :base + :n - 1
UPDATE tasks SET
  title = CASE WHEN false THEN NULL ELSE title END,
  description = CASE WHEN false THEN NULL ELSE description END,
  priority = CASE WHEN false THEN NULL ELSE priority END,
  tags = CASE WHEN false THEN NULL::text[] ELSE tags END,
  due_date = CASE WHEN false THEN NULL ELSE due_date END,
  completed = CASE WHEN true THEN true ELSE completed END,
  completed_at = CASE WHEN NOT true THEN completed_at WHEN true AND NOT completed THEN now()
                      WHEN true THEN completed_at END,
  updated_at = now(), version = version + 1
WHERE id = :id
  AND user_id = 'bench-r-' || :uid AND (NULL::integer IS NULL OR version = NULL::integer)
RETURNING id, user_id, title, description, completed,
  (extract(epoch FROM completed_at) * 1000000)::bigint, priority, array_to_json(tags),
  (extract(epoch FROM due_date) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint,
  (extract(epoch FROM updated_at) * 1000000)::bigint, version;
