-- PostgreSQL's manifest rollups compare their text keys as bytes from this version on (see its
-- 0016). SQLite already compares text with BINARY, byte order: nothing to change, but the
-- version numbers of the two dialects stay in step.
SELECT 1;
