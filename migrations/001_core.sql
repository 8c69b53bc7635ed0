-- Accounts, tasks, idempotency records and sign-in throttling.

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- user_id is not a foreign key: tokens from an external issuer sharing the
-- secret (Better Auth) name users who never signed up here.
CREATE TABLE tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       text NOT NULL,
    title         text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 10000),
    completed     boolean NOT NULL DEFAULT false,
    completed_at  timestamptz,
    priority      text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
    priority_rank smallint GENERATED ALWAYS AS
                  (CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END) STORED,
    tags          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    due_date      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer NOT NULL DEFAULT 1
);

-- One index per sort key of GET /api/{user_id}/tasks, each ending in id for
-- keyset pagination; they also serve the status filter's scans.
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_due_idx      ON tasks (user_id, coalesce(due_date, 'infinity'), id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority_rank, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, lower(title), id);
CREATE INDEX tasks_tags_idx          ON tasks USING gin (tags);

-- A POST with an Idempotency-Key stores its response here, in the same
-- transaction as the task it created.
CREATE TABLE idempotency_keys (
    user_id      text NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    location     text,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Failed sign-ins per email (lower-cased), shared by every replica.
CREATE TABLE sign_in_failures (
    email        text PRIMARY KEY,
    failures     integer NOT NULL,
    first_at     timestamptz NOT NULL,
    locked_until timestamptz
);
