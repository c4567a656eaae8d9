-- Who is asking, for the row-level security of 85_row_security.sql and the SECURITY DEFINER
-- functions that read a team's data. First of the function files: those functions use it.

-- Whether the caller is a team login, and its team (NULL for a team login without a
-- mapping, or one acting as two: it sees nothing). The caller is current_user, or inside a
-- SECURITY DEFINER function (where current_user is the owner) the session's login and the
-- role it SET ROLE to. Superusers are members of every role but are never restricted.
CREATE OR REPLACE FUNCTION tally_caller_scope(OUT restricted boolean, OUT team text)
LANGUAGE sql STABLE AS $$
    WITH callers AS (
        SELECT DISTINCT r.rolname
          FROM pg_roles r
         WHERE r.rolname IN (current_user, session_user, current_setting('role'))
           AND NOT r.rolsuper
           AND pg_has_role(r.oid, 'tally_team_reader', 'MEMBER')
    )
    SELECT count(*) > 0,
           CASE WHEN count(*) = count(g.team) AND count(DISTINCT g.team) = 1 THEN min(g.team) END
      FROM callers c LEFT JOIN grafana_roles g ON g.role_name = c.rolname
$$;
