-- Row-level security: a Grafana data source per team (dashboards/README.md, "One data source
-- per team"; docs/architecture.md, "Storage").
--
-- A team's login (tallyctl grafana-role create --team T) is a member of tally_team_reader and
-- is mapped to its team in grafana_roles (0014). Under the reporting views, the tables that
-- hold a team's data carry two policies:
--  * tally_all, permissive, every role and command: USING (true). Every role that is not a
--    team login (tally_reader, tally-report, tally-ingest, tallyctl) reads and writes as
--    before; the planner drops the constant qual, so their plans do not change. (Table
--    owners and superusers skip policies anyway.)
--  * tally_team, restrictive, SELECT, only tally_team_reader: a row is visible when the
--    developer belonged to the login's team at the row's time, which is the team the views
--    label the row with (costs_15m: the bucket's start, costs_day: the UTC day's start,
--    request_costs: the event time). A login without a mapping sees nothing.
-- The views over those tables run with the caller's rights (security_invoker), so the
-- policies hold through them; a view that reads as its owner (a superuser skips policies)
-- would pass every row. A team login may read only the views granted below: the reporting
-- schema's other views (ingest, quotas, alerts, unpriced combinations) are not for it.
-- SECURITY DEFINER functions run as their owner, past the policies: those reading usage
-- filter by tally_caller_scope() (05_caller_scope.sql) themselves (tally_quota_usage_all,
-- tally_prices_check, the month close functions tally_month_lines, tally_month_frozen_lines
-- and those over them, tally_month_closed_cost, and tally_reconciliation: nothing for a team);
-- the rest read prices only (tally_rate_table, tally_model_names).

-- tally_all and tally_team on one table: p_visible is the restrictive policy's condition.
CREATE OR REPLACE FUNCTION tally_team_policy(p_table regclass, p_visible text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tally_all ON %s', p_table);
    EXECUTE format('CREATE POLICY tally_all ON %s USING (true) WITH CHECK (true)', p_table);
    EXECUTE format('DROP POLICY IF EXISTS tally_team ON %s', p_table);
    EXECUTE format('CREATE POLICY tally_team ON %s AS RESTRICTIVE FOR SELECT TO tally_team_reader '
                   'USING (%s)', p_table, p_visible);
END
$$;

-- the login's own mapping row only (what tally_caller_scope reads)
SELECT tally_team_policy('grafana_roles',
    'role_name IN (current_user, session_user, current_setting(''role''))');
SELECT tally_team_policy('developers', 'team = (SELECT s.team FROM tally_caller_scope() s)');
-- a label of a developer who belonged to the team at some time
SELECT tally_team_policy('developer_labels',
    'EXISTS (SELECT 1 FROM developers d WHERE d.oid = developer_labels.oid
                AND d.team = (SELECT s.team FROM tally_caller_scope() s))');
SELECT tally_team_policy('usage_rollup_15m',
    'EXISTS (SELECT 1 FROM developers d WHERE d.oid = usage_rollup_15m.developer_oid
                AND d.team = (SELECT s.team FROM tally_caller_scope() s)
                AND d.valid_from <= usage_rollup_15m.bucket AND d.valid_to > usage_rollup_15m.bucket)');
SELECT tally_team_policy('usage_rollup_day',
    'EXISTS (SELECT 1 FROM developers d WHERE d.oid = usage_rollup_day.developer_oid
                AND d.team = (SELECT s.team FROM tally_caller_scope() s)
                AND d.valid_from <= usage_rollup_day.day::timestamp AT TIME ZONE ''UTC''
                AND d.valid_to > usage_rollup_day.day::timestamp AT TIME ZONE ''UTC'')');
SELECT tally_team_policy('usage_events',
    'EXISTS (SELECT 1 FROM developers d WHERE d.oid = usage_events.developer_oid
                AND d.team = (SELECT s.team FROM tally_caller_scope() s)
                AND d.valid_from <= usage_events.event_time AND d.valid_to > usage_events.event_time)');
-- a month has no single day: visible when the developer belonged to the team the whole UTC
-- month (the team's rows of a developer never overlap: 0001's exclusion constraint), so the
-- month of a developer who moved is neither team's here (their days are, in costs_15m/_day)
SELECT tally_team_policy('usage_rollup_month',
    '(SELECT sum(least(d.valid_to, (usage_rollup_month.month + interval ''1 month'')::timestamp AT TIME ZONE ''UTC'')
                 - greatest(d.valid_from, usage_rollup_month.month::timestamp AT TIME ZONE ''UTC''))
        FROM developers d
       WHERE d.oid = usage_rollup_month.developer_oid
         AND d.team = (SELECT s.team FROM tally_caller_scope() s)
         AND d.valid_from < (usage_rollup_month.month + interval ''1 month'')::timestamp AT TIME ZONE ''UTC''
         AND d.valid_to > usage_rollup_month.month::timestamp AT TIME ZONE ''UTC'')
     = (usage_rollup_month.month + interval ''1 month'')::timestamp AT TIME ZONE ''UTC''
       - usage_rollup_month.month::timestamp AT TIME ZONE ''UTC''');
-- the team's own team quotas (team_budgets)
SELECT tally_team_policy('quotas',
    'scope = ''team'' AND subject = (SELECT s.team FROM tally_caller_scope() s)');

-- The views over them read as their caller. (80_reporting.sql's CREATE OR REPLACE VIEW
-- resets a view's options: this file runs after it and sets them again.)
ALTER VIEW reporting.developers SET (security_invoker = true);
ALTER VIEW reporting.usage_15m SET (security_invoker = true);
ALTER VIEW reporting.usage_month SET (security_invoker = true);
ALTER VIEW reporting.costs_15m SET (security_invoker = true);
ALTER VIEW reporting.costs_day SET (security_invoker = true);
ALTER VIEW reporting.request_costs SET (security_invoker = true);
ALTER VIEW reporting.unpriced_15m SET (security_invoker = true);
ALTER VIEW reporting.teams SET (security_invoker = true);
ALTER VIEW reporting.developer_list SET (security_invoker = true);
ALTER VIEW reporting.models SET (security_invoker = true);
ALTER VIEW reporting.team_budgets SET (security_invoker = true);

-- What those views read, for both readers: tally_reader through tally_all (every row, as
-- before), a team login through tally_team. Only the columns the views use: not a quota's
-- alert targets, not an event's tenant, subscription or gateway.
GRANT USAGE ON SCHEMA public TO tally_reader, tally_team_reader;
GRANT SELECT ON developers, developer_labels, usage_rollup_15m, usage_rollup_day,
                usage_rollup_month, deployments, price_aliases
   TO tally_reader, tally_team_reader;
GRANT SELECT (event_time, request_id, session_id, developer_oid, developer_upn, model, deployment,
              long_context, speed, inference_geo, iterations, input_tokens, output_tokens,
              cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
              cache_write_unsplit_tokens, cache_write_unknown)
   ON usage_events TO tally_reader, tally_team_reader;
GRANT SELECT (name, scope, subject, metric, period, tz, limit_value, thresholds)
   ON quotas TO tally_reader, tally_team_reader;
GRANT SELECT ON grafana_roles TO tally_team_reader;

-- What a team login reads: the team dashboard's and the finance dashboard's views (its rows
-- only) and the price books (no team's data). A view added later is not among them until
-- it is listed here.
GRANT USAGE ON SCHEMA reporting TO tally_team_reader;
GRANT SELECT ON reporting.developers, reporting.usage_15m, reporting.usage_month,
                reporting.costs_15m, reporting.costs_day, reporting.request_costs,
                reporting.unpriced_15m, reporting.teams, reporting.developer_list,
                reporting.models, reporting.team_budgets,
                reporting.price_book_in_use, reporting.prices_in_use, reporting.rate_table,
                reporting.rates_in_use, reporting.price_books
   TO tally_team_reader;

-- tallyctl grafana-role: the default login of a team, grafana_ and the team's name in lower
-- case with every run of other characters than a-z, 0-9 and _ as one _ (at most 63 bytes).
-- Only a default: the login's team is its grafana_roles row.
CREATE OR REPLACE FUNCTION tally_grafana_login(p_team text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left('grafana_' || regexp_replace(lower(p_team), '[^a-z0-9_]+', '_', 'g'), 63)
$$;

-- Creates the login p_login of team p_team: LOGIN, a member of tally_team_reader (what it may
-- read, nothing else), with the password verifier p_verifier (SCRAM, made by the client:
-- the password itself never reaches the server) or none (another authentication method, or
-- a password set later). Refuses a role that exists: an existing role is not adopted.
CREATE OR REPLACE FUNCTION tally_grafana_role_create(p_login text, p_team text, p_verifier text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(p_team, '') = '' THEN
        RAISE EXCEPTION 'a Grafana team login needs a team' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_login) THEN
        RAISE EXCEPTION 'role "%" exists already', p_login USING ERRCODE = 'duplicate_object';
    END IF;
    EXECUTE format('CREATE ROLE %I LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
                   'NOBYPASSRLS IN ROLE tally_team_reader', p_login);
    IF p_verifier IS NOT NULL THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', p_login, p_verifier);
    END IF;
    INSERT INTO grafana_roles (role_name, team) VALUES (p_login, p_team);
END
$$;

-- Drops the login p_login, or every login of team p_team: their mapping and their role.
-- Returns the logins dropped.
CREATE OR REPLACE FUNCTION tally_grafana_role_drop(p_login text, p_team text)
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    FOR r IN DELETE FROM grafana_roles WHERE role_name = p_login OR team = p_team
             RETURNING role_name LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('DROP ROLE %I', r);
        END IF;
        RETURN NEXT r;
    END LOOP;
END
$$;

-- Month close (66_months.sql, 82_months_reporting.sql) and the Azure bill (67_reconcile.sql):
-- their views read as their caller, the team data through the SECURITY DEFINER functions
-- above, which give a team login its team's lines (what its closes froze, what they need
-- now) and no reconciliation. month_closes holds no team's amounts, but its stored bytes are
-- the whole company's chargeback: no reader gets those columns.
GRANT SELECT (id, month, tz, book_id, closed_at, closed_by, forced, reason, complete, csv_sha256,
              json_sha256, reopened_at, reopened_by, reopen_reason)
   ON month_closes TO tally_reader, tally_team_reader;
GRANT SELECT ON azure_cost_periods TO tally_reader, tally_team_reader;
ALTER VIEW reporting.months SET (security_invoker = true);
ALTER VIEW reporting.month_corrections SET (security_invoker = true);
ALTER VIEW reporting.reconciliation_daily SET (security_invoker = true);
GRANT SELECT ON reporting.months, reporting.month_corrections, reporting.reconciliation_daily
   TO tally_reader, tally_team_reader;
