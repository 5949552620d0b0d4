//! Helpers for set-based statements of many rows: PostgreSQL array literals bound as one
//! parameter per column ([`TextArray`], [`IntArray`]), SQLite multi-row `VALUES` in chunks of a
//! few sizes ([`chunks`], [`value_rows`], [`placeholders`]).

use std::ops::Range;

/// Most rows in one multi-row SQLite statement (26 columns: well within SQLite's 32,766
/// bind parameters).
pub(crate) const SQLITE_ROWS: usize = 256;
/// Most keys in one `IN (…)` lookup.
pub(crate) const LOOKUP_CHUNK: usize = 256;

/// Splits `0..len` into chunks of `max` (a power of two) and then descending powers of two, so
/// a statement built per chunk has one of `log2(max) + 1` shapes.
pub(crate) fn chunks(len: usize, max: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = max;
    while start < len {
        while size > len - start {
            size /= 2;
        }
        out.push(start..start + size);
        start += size;
    }
    out
}

/// `items` in the runs [`chunks`] describes.
pub(crate) fn chunked<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    chunks(items.len(), max)
        .into_iter()
        .filter_map(move |range| items.get(range))
}

/// `$first, $first+1, …` (`count` of them).
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out
}

/// `count` rows of `(?, ?, …)` with `width` parameters each, for SQLite. Anonymous `?`
/// parameters bind by position; numbered ones (`$n`) make every bind look its name up in a
/// list as long as the statement's parameters (quadratic in a 6,400-parameter statement).
pub(crate) fn value_rows(width: usize, count: usize) -> String {
    let mut row = String::from("(");
    for i in 0..width {
        row.push_str(if i == 0 { "?" } else { ", ?" });
    }
    row.push(')');
    vec![row; count].join(", ")
}

/// A PostgreSQL array literal of text (`{"a","b\"c",NULL}`), bound as text and cast `::text[]`.
#[derive(Debug, Default)]
pub(crate) struct TextArray(String);

impl TextArray {
    pub(crate) fn push(&mut self, value: Option<&str>) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        match value {
            None => self.0.push_str("NULL"),
            Some(text) => {
                self.0.push('"');
                // Most values need no escaping: copy them whole.
                let mut rest = text;
                while let Some(at) = rest.find(['"', '\\']) {
                    self.0.push_str(&rest[..at]);
                    self.0.push('\\');
                    self.0.push_str(&rest[at..=at]);
                    rest = &rest[at + 1..];
                }
                self.0.push_str(rest);
                self.0.push('"');
            }
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// A PostgreSQL array literal of integers (`{1,-2,NULL}`), bound as text and cast `::bigint[]`.
#[derive(Debug, Default)]
pub(crate) struct IntArray(String);

impl IntArray {
    pub(crate) fn push(&mut self, value: Option<i64>) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        match value {
            None => self.0.push_str("NULL"),
            Some(v) => self.0.push_str(&v.to_string()),
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

pub(crate) type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_arrays_quote_every_value_and_escape_quotes_and_backslashes() {
        let mut array = TextArray::default();
        for value in [
            Some("plain"),
            None,
            Some(""),
            Some(r#"say "hi""#),
            Some(r"C:\path\"),
            Some("{,}"),
            Some("NULL"),
            Some("ünïcode 🙂"),
        ] {
            array.push(value);
        }
        assert_eq!(
            array.finish(),
            r#"{"plain",NULL,"","say \"hi\"","C:\\path\\","{,}","NULL","ünïcode 🙂"}"#
        );
        assert_eq!(TextArray::default().finish(), "{}");
    }

    #[test]
    fn int_arrays_hold_nulls_and_the_extremes() {
        let mut array = IntArray::default();
        for value in [Some(0), None, Some(i64::MIN), Some(i64::MAX), Some(-7)] {
            array.push(value);
        }
        assert_eq!(
            array.finish(),
            "{0,NULL,-9223372036854775808,9223372036854775807,-7}"
        );
        assert_eq!(IntArray::default().finish(), "{}");
    }

    #[test]
    fn chunks_cover_every_index_once_in_few_shapes() {
        for len in [0, 1, 2, 3, 255, 256, 257, 600, 1000] {
            let ranges = chunks(len, 256);
            let covered: Vec<usize> = ranges.iter().flat_map(Clone::clone).collect();
            assert_eq!(covered, (0..len).collect::<Vec<_>>(), "{len}");
            assert!(
                ranges
                    .iter()
                    .all(|r| r.len().is_power_of_two() && r.len() <= 256),
                "{len}: {ranges:?}"
            );
            let items: Vec<usize> = (0..len).collect();
            let joined: Vec<usize> = chunked(&items, 256).flatten().copied().collect();
            assert_eq!(joined, items);
        }
        assert_eq!(
            chunks(600, 256),
            vec![0..256, 256..512, 512..576, 576..592, 592..600]
        );
    }

    #[test]
    fn placeholders_and_value_rows_number_and_shape_the_parameters() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
        assert_eq!(value_rows(2, 3), "(?, ?), (?, ?), (?, ?)");
        assert_eq!(value_rows(1, 1), "(?)");
    }
}
