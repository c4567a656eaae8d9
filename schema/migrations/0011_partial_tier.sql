-- A tier may leave a class without a published price (issue: Sonnet 4 and 4.5 over 200,000
-- tokens, whose page states input and output only). NULL = no published price: the tier
-- still applies to every request over it, and those requests are unpriced
-- (tally_rate_table leaves the tier out), never charged a base rate or a derived one.
-- The loader writes NULL only in a tier (over_tokens > 0); the base rates stay complete.
ALTER TABLE price_rates ALTER COLUMN input DROP NOT NULL,
                        ALTER COLUMN output DROP NOT NULL,
                        ALTER COLUMN cache_write_5m DROP NOT NULL,
                        ALTER COLUMN cache_write_1h DROP NOT NULL,
                        ALTER COLUMN cache_read DROP NOT NULL,
                        ADD CHECK (over_tokens > 0 OR (input IS NOT NULL AND output IS NOT NULL
                                   AND cache_write_5m IS NOT NULL AND cache_write_1h IS NOT NULL
                                   AND cache_read IS NOT NULL));
