-- 0007: the function files. From here on the current definition of every function and view
-- is in schema/functions/*.sql, applied by tallyctl migrate after the numbered migrations,
-- in the same transaction; this table records which files (and which SHA-256 of each) the
-- database has, so that a migrate with nothing changed applies nothing.
CREATE TABLE schema_functions (
    name text PRIMARY KEY,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
