-- 0018_month_rollup_by_statement: tally-ingest's direct way (ingest/sink_pg.c,
-- SQL_ROLLUP_STAGED) upserts usage_rollup_month in the statement that upserts the daily
-- rows, from the same batch sums (one pass over a batch's few month keys, where the
-- triggers of 0003 aggregated the statement's new and old day rows again, about a quarter
-- of that statement). For that statement only it sets tally.month_rollup = 'statement'
-- (SET LOCAL, cleared again right after), and the insert and update triggers step aside;
-- every other writer of usage_rollup_day keeps them. The delete trigger is unchanged.
DROP TRIGGER usage_rollup_day_month_ins ON usage_rollup_day;
DROP TRIGGER usage_rollup_day_month_upd ON usage_rollup_day;
CREATE TRIGGER usage_rollup_day_month_ins AFTER INSERT ON usage_rollup_day
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (coalesce(current_setting('tally.month_rollup', true), '') <> 'statement')
    EXECUTE FUNCTION tally_rollup_month_apply();
CREATE TRIGGER usage_rollup_day_month_upd AFTER UPDATE ON usage_rollup_day
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (coalesce(current_setting('tally.month_rollup', true), '') <> 'statement')
    EXECUTE FUNCTION tally_rollup_month_apply();
