-- Σ of a BIGINT column as a BIGINT. The built-in SUM(bigint) returns numeric (an allocated
-- decimal per group, which the Usage API then casts back); this one adds with int8pl, which
-- raises "bigint out of range" on overflow exactly as that cast did. Usage sums columns that
-- are normalised parts below 10^9, so overflow needs ~10^10 rows in one group.
CREATE AGGREGATE sum_bigint(bigint) (
    SFUNC = int8pl,
    STYPE = bigint,
    COMBINEFUNC = int8pl,
    PARALLEL = SAFE
);
