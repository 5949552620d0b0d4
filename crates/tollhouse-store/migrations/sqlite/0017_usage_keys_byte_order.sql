-- PostgreSQL's usage keys compare as bytes from this version on (see its 0017). SQLite already
-- compares text with BINARY: nothing to change, but the two dialects' versions stay in step.
SELECT 1;
