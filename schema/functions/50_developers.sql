-- Developers' dated labels and deployments' dated models: lookups and the admin setters.

-- The labels of one developer for a period: the row valid at its start, else the first row
-- starting inside it (someone who joined mid-month). For per-row lookups (tally-report).
CREATE OR REPLACE FUNCTION tally_developer_at(p_oid text, p_start timestamptz, p_end timestamptz)
RETURNS TABLE (upn text, display_name text, team text, cost_center text)
LANGUAGE sql STABLE AS $$
    SELECT upn, display_name, team, cost_center FROM developers
     WHERE oid = p_oid AND valid_to > p_start AND valid_from < p_end
     ORDER BY valid_from <= p_start DESC, valid_from
     LIMIT 1
$$;

-- The labels of every developer for a period: the row valid at its start, else the first
-- row starting inside it (someone who joined mid-month); upn falls back to the one last
-- seen in events. One row per oid, for a hash join.
CREATE OR REPLACE FUNCTION tally_developers_in(p_start timestamptz, p_end timestamptz)
RETURNS TABLE (oid text, upn text, display_name text, team text, cost_center text)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(d.oid, l.oid), coalesce(d.upn, l.upn, ''), coalesce(d.display_name, ''),
           coalesce(d.team, ''), coalesce(d.cost_center, '')
      FROM (SELECT DISTINCT ON (oid) oid, upn, display_name, team, cost_center FROM developers
             WHERE valid_to > p_start AND valid_from < p_end
             ORDER BY oid, valid_from <= p_start DESC, valid_from) d
      FULL JOIN developer_labels l ON l.oid = d.oid
$$;

-- tallyctl deployments set: maps a deployment to a model from p_from on (default: the
-- first mapping applies to all time, a later one from the current 15-minute bucket),
-- closing the previous mapping there. Returns a line for the operator.
-- p_residency: the residency class of the deployment's usage when an event carries none
-- ('' = none); a change of model or of residency starts a new mapping.
DROP FUNCTION IF EXISTS tally_deployment_set(text, text, timestamptz); -- the 3-argument one of 0003
CREATE OR REPLACE FUNCTION tally_deployment_set(p_name text, p_model text, p_from timestamptz,
                                                p_residency text DEFAULT '')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    cur deployments;
    t timestamptz;
    res text := coalesce(p_residency, '');
    what text := format('"%s"', p_model) || CASE WHEN res <> '' THEN format(' (residency %s)', res) ELSE '' END;
BEGIN
    SELECT * INTO cur FROM deployments WHERE name = p_name ORDER BY valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO deployments (name, model, valid_from, residency) VALUES (p_name, p_model, coalesce(p_from, '-infinity'), res);
        RETURN format('deployment "%s" -> %s from %s', p_name, what, coalesce(p_from, '-infinity'));
    END IF;
    IF cur.model = p_model AND cur.residency = res AND cur.valid_to = 'infinity' AND (p_from IS NULL OR p_from >= cur.valid_from) THEN
        RETURN format('deployment "%s" -> %s unchanged (since %s)', p_name, what, cur.valid_from);
    END IF;
    t := coalesce(p_from, date_bin('15 minutes', now(), timestamptz '2000-01-01 00:00+00'));
    IF t <= cur.valid_from THEN
        RAISE EXCEPTION 'deployment "%" already has a mapping from %: the new one must start later', p_name, cur.valid_from
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE deployments SET valid_to = t WHERE name = p_name AND valid_from = cur.valid_from AND valid_to > t;
    INSERT INTO deployments (name, model, valid_from, residency) VALUES (p_name, p_model, t, res);
    RETURN format('deployment "%s" -> %s from %s (was "%s"%s)', p_name, what, t, cur.model,
                  CASE WHEN cur.residency <> '' THEN format(' residency %s', cur.residency) ELSE '' END);
END
$$;

-- tallyctl developers import, one row: 'inserted' (a new developer), 'changed' (the
-- current row closed at p_from, default now, and a new one opened) or 'unchanged' (the
-- row in effect at p_from already says this: re-importing a file is a no-op).
CREATE OR REPLACE FUNCTION tally_developer_set(p_oid text, p_upn text, p_display_name text, p_team text,
                                    p_cost_center text, p_from timestamptz)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    latest developers;
    cur developers;
    t timestamptz := coalesce(p_from, now());
BEGIN
    SELECT * INTO latest FROM developers WHERE oid = p_oid ORDER BY valid_from DESC LIMIT 1;
    IF NOT FOUND THEN
        INSERT INTO developers (oid, upn, display_name, team, cost_center, valid_from)
        VALUES (p_oid, p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''),
                coalesce(p_cost_center, ''), coalesce(p_from, '-infinity'));
        RETURN 'inserted';
    END IF;
    SELECT * INTO cur FROM developers WHERE oid = p_oid AND valid_from <= t AND valid_to > t;
    IF FOUND AND (cur.upn, cur.display_name, cur.team, cur.cost_center)
                 = (p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''), coalesce(p_cost_center, '')) THEN
        RETURN 'unchanged';
    END IF;
    IF t <= latest.valid_from THEN
        RAISE EXCEPTION 'developer "%": valid_from % is not after the current row (from %): history is not rewritten',
            p_oid, t, latest.valid_from USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE developers SET valid_to = t WHERE oid = p_oid AND valid_from = latest.valid_from AND valid_to > t;
    INSERT INTO developers (oid, upn, display_name, team, cost_center, valid_from)
    VALUES (p_oid, p_upn, coalesce(p_display_name, ''), coalesce(p_team, ''), coalesce(p_cost_center, ''), t);
    RETURN 'changed';
END
$$;
