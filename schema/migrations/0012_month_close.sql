-- 0012_month_close: a month's chargeback frozen for finance (docs/architecture.md, "Month
-- close"; issue 12).
--
-- A close freezes one local month in one zone: the exact bytes of its chargeback as CSV and
-- as JSON (stored, never re-rendered, with their SHA-256) and the lines the corrections are
-- computed against. A month is closed at most once per zone at a time; a reopened close
-- stays as history (reopened_at set) and the month may be closed again.
CREATE TABLE month_closes (
    id bigserial PRIMARY KEY,
    month text NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    tz text NOT NULL,
    book_id integer NOT NULL REFERENCES price_books (id),
    closed_at timestamptz NOT NULL DEFAULT now(),
    closed_by text NOT NULL,
    forced boolean NOT NULL DEFAULT false,
    reason text,
    complete text NOT NULL, -- the Tally-Complete value of the reply when it was closed
    csv bytea NOT NULL,
    csv_sha256 text NOT NULL,
    json bytea NOT NULL,
    json_sha256 text NOT NULL,
    reopened_at timestamptz,
    reopened_by text,
    reopen_reason text,
    CHECK (NOT forced OR reason IS NOT NULL),
    CHECK ((reopened_at IS NULL) = (reopened_by IS NULL))
);
CREATE UNIQUE INDEX month_closes_open_once ON month_closes (month, tz) WHERE reopened_at IS NULL;

-- What a close froze, per developer × team × cost centre × model × priced × token class (the
-- team and cost centre of the developer's dated row on each local day): for month = the
-- closed month its usage, for an earlier month the correction to that month that this
-- month's chargeback carried. token_class is one of tally_token_classes() or 'requests'
-- (a count, no cost); cost_usd is NULL when unpriced.
CREATE TABLE month_close_lines (
    close_id bigint NOT NULL REFERENCES month_closes (id) ON DELETE CASCADE,
    month text NOT NULL,
    developer_oid text NOT NULL,
    team text NOT NULL,
    cost_center text NOT NULL,
    model text NOT NULL,
    priced boolean NOT NULL,
    token_class text NOT NULL,
    quantity bigint NOT NULL,
    cost_usd numeric,
    PRIMARY KEY (close_id, month, developer_oid, team, cost_center, model, priced, token_class)
);
CREATE INDEX month_close_lines_month ON month_close_lines (month);

-- Every close and reopen, with who and why (a forced close's reason is recorded here too).
CREATE TABLE month_close_audit (
    id bigserial PRIMARY KEY,
    close_id bigint NOT NULL REFERENCES month_closes (id),
    action text NOT NULL CHECK (action IN ('close', 'reopen')),
    at timestamptz NOT NULL DEFAULT now(),
    by_principal text NOT NULL,
    forced boolean NOT NULL DEFAULT false,
    reason text
);
