-- The SQL of POST /api/{user_id}/tasks: the task and its event in one
-- statement (src/store/tasks_sql.c SQL_CREATE, with src/store/events_sql.h's
-- EVENTS_APPEND_CTES), committed on its own.
\set uid random(1, :users)
WITH t AS (INSERT INTO tasks (user_id, title, description, priority, tags, due_date, completed,
                              completed_at, created_at, updated_at)
  VALUES ('bench-w-' || :uid, 'bench task', 'created by scripts/bench.sh', 'medium', '{}'::text[],
    ('epoch'::timestamptz + NULL::bigint * interval '1 microsecond'), false,
    CASE WHEN false THEN ('epoch'::timestamptz + 1795000000000000::bigint * interval '1 microsecond') END,
    ('epoch'::timestamptz + 1795000000000000::bigint * interval '1 microsecond'),
    ('epoch'::timestamptz + 1795000000000000::bigint * interval '1 microsecond'))
  RETURNING id, user_id, title, description, completed,
    (extract(epoch FROM completed_at) * 1000000)::bigint AS completed_us, priority,
    array_to_json(tags) AS tags_json, (extract(epoch FROM due_date) * 1000000)::bigint AS due_us,
    (extract(epoch FROM created_at) * 1000000)::bigint AS created_us,
    (extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us, version),
next AS (INSERT INTO event_seqs (user_id, seq) VALUES ('bench-w-' || :uid, 1)
  ON CONFLICT (user_id) DO UPDATE SET seq = event_seqs.seq + 1 RETURNING seq),
e AS (INSERT INTO event_log (event_id, event_type, user_id, aggregate_id, seq, correlation_id, data, version)
  SELECT gen_random_uuid(), 'task.created', 'bench-w-' || :uid, t.id::text, next.seq, gen_random_uuid()::text,
    jsonb_set('{"task": {"id": 0, "user_id": "bench", "title": "bench task", "description": "created by scripts/bench.sh", "completed": false, "completed_at": null, "priority": "medium", "tags": [], "due_date": null, "created_at": "2026-11-19T08:26:40.000Z", "updated_at": "2026-11-19T08:26:40.000Z", "version": 1}}'::jsonb,
              '{task,id}', to_jsonb(t.id))::jsonb,
    1 FROM next, t RETURNING id, seq),
outbox AS (INSERT INTO event_outbox (id) SELECT id FROM e)
SELECT * FROM t;
