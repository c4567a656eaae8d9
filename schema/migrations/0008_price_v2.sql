-- Price book format v2 (issue 10): rates per speed × prompt tier, residency multipliers,
-- fast-mode aliases, and a deployment's residency class. The engine reads price_rates;
-- `prices` keeps the standard base rates (lc_* = the 200000 tier) for older readers.

-- USD per million tokens, one row per price range × speed × tier. over_tokens 0 is the
-- base tier; a tier applies to a whole request whose prompt is over over_tokens (a
-- prompt band breakpoint). Fast rows hold the fast rates themselves (a book's fast
-- multiplier already applied), so every rate is read, never derived.
CREATE TABLE price_rates (
    book_id integer NOT NULL REFERENCES price_books(id),
    model text NOT NULL,
    effective_from timestamptz NOT NULL,
    effective_to timestamptz NOT NULL DEFAULT 'infinity',
    speed text NOT NULL CHECK (speed IN ('standard', 'fast')),
    over_tokens bigint NOT NULL CHECK (over_tokens >= 0),
    input numeric NOT NULL,
    output numeric NOT NULL,
    cache_write_5m numeric NOT NULL,
    cache_write_1h numeric NOT NULL,
    cache_read numeric NOT NULL,
    PRIMARY KEY (book_id, model, effective_from, speed, over_tokens),
    CHECK (effective_from < effective_to),
    CHECK (input >= 0 AND output >= 0 AND cache_write_5m >= 0 AND cache_write_1h >= 0 AND cache_read >= 0),
    EXCLUDE USING gist (book_id WITH =, model WITH =, speed WITH =, over_tokens WITH =,
                        tstzrange(effective_from, effective_to) WITH &&)
);

-- The multiplier on every rate (every speed, tier and class) of usage in a residency
-- class; a class without a row has multiplier 1.
CREATE TABLE price_residency (
    book_id integer NOT NULL REFERENCES price_books(id),
    model text NOT NULL,
    effective_from timestamptz NOT NULL,
    residency text NOT NULL CHECK (residency ~ '^[a-z0-9-]+$'),
    multiplier numeric NOT NULL CHECK (multiplier > 0),
    PRIMARY KEY (book_id, model, effective_from, residency)
);

-- NULL: the alias means its model at the event's speed; 'fast': the model in fast mode
-- whatever the event says (Foundry's "-fast" deployments).
ALTER TABLE price_aliases ADD COLUMN speed text CHECK (speed IN ('standard', 'fast'));

-- The residency class of a deployment's usage when the event carries none ('' = none).
ALTER TABLE deployments ADD COLUMN residency text NOT NULL DEFAULT '' CHECK (residency ~ '^[a-z0-9-]*$');

-- Every book loaded before v2 (a v1 book: standard speed, at most the 200000 tier).
INSERT INTO price_rates (book_id, model, effective_from, effective_to, speed, over_tokens,
                         input, output, cache_write_5m, cache_write_1h, cache_read)
SELECT book_id, model, effective_from, effective_to, 'standard', 0,
       input, output, cache_write_5m, cache_write_1h, cache_read
  FROM prices
UNION ALL
SELECT book_id, model, effective_from, effective_to, 'standard', lc_threshold,
       lc_input, lc_output, lc_cache_write_5m, lc_cache_write_1h, lc_cache_read
  FROM prices
 WHERE lc_threshold IS NOT NULL;
