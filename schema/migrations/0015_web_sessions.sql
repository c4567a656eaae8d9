-- 0015_web_sessions: the sign-in sessions of tally-report's overview page (GET /,
-- report/signin.h; docs/architecture.md, "Overview page"). A session stands for the API
-- token it was opened with: only the SHA-256 of its random id is stored (a database dump
-- opens no session), and deleting or revoking the token ends it (the lookup joins
-- api_tokens). Expired rows are deleted when the next session starts. Not granted to
-- tally_reader.
CREATE TABLE web_sessions (
    id_sha256 text PRIMARY KEY,
    token_sha256 text NOT NULL REFERENCES api_tokens (token_sha256) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
