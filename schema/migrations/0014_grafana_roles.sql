-- 0014_grafana_roles: a Grafana data source per team (tallyctl grafana-role, dashboards/README.md).
-- Each team's login is a member of tally_team_reader; the policies of
-- schema/functions/85_row_security.sql show such a login only its team's rows. The login's
-- team is this table's, never read from the role's name.
CREATE TABLE grafana_roles (
    role_name text PRIMARY KEY,
    team text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Roles are the cluster's: another database of the cluster may have made it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tally_team_reader') THEN
        CREATE ROLE tally_team_reader NOLOGIN;
    END IF;
END
$$;
