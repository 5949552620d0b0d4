-- PostgreSQL gains a BIGINT-valued sum aggregate in this version (see its 0015). SQLite's SUM
-- of integers is already an integer that fails on overflow: nothing to add, but the version
-- numbers of the two dialects stay in step.
SELECT 1;
