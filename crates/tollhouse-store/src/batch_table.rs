//! A table written many rows at a time, its columns described once. Both dialects' statements
//! are built from that description: on PostgreSQL one `INSERT … SELECT * FROM UNNEST($1::text[],
//! …)` with one array per column, on SQLite multi-row `VALUES` in a few chunk sizes. The rows
//! are given once, as cells in column order, so a column cannot be bound in one dialect's order
//! and not the other's.

use crate::sql_batch::{IntArray, SQLITE_ROWS, TextArray, Tx, chunks, value_rows};
use crate::{Backend, StoreError};
use sqlx::any::AnyRow;

/// How a column's values travel: PostgreSQL casts the array to `text[]` or `bigint[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `text`.
    Text,
    /// `bigint`.
    Int,
}

/// One value of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell<'a> {
    /// A text value or NULL.
    Text(Option<&'a str>),
    /// An integer value or NULL.
    Int(Option<i64>),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Some(text))
    }
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Cell<'_> {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Cell<'_> {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl Cell<'_> {
    fn kind(&self) -> Kind {
        match self {
            Self::Text(_) => Kind::Text,
            Self::Int(_) => Kind::Int,
        }
    }
}

/// A table written in batches: its name and its columns in the order rows give their cells.
#[derive(Debug)]
pub(crate) struct BatchTable {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [(&'static str, Kind)],
}

/// One PostgreSQL array being filled.
enum Array {
    Text(TextArray),
    Int(IntArray),
}

impl BatchTable {
    /// The number of cells in a row.
    pub(crate) fn width(&self) -> usize {
        self.columns.len()
    }

    /// `a, b, c`.
    pub(crate) fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        names.join(", ")
    }

    /// The PostgreSQL statement: `INSERT INTO t (…) SELECT * FROM UNNEST($1::text[], …) tail`.
    pub(crate) fn unnest_sql(&self, tail: &str) -> String {
        let arrays: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| match kind {
                Kind::Text => format!("${}::text[]", i + 1),
                Kind::Int => format!("${}::bigint[]", i + 1),
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) {tail}",
            self.name,
            self.column_list(),
            arrays.join(", ")
        )
    }

    /// The SQLite statement for `rows` rows: `INSERT INTO t (…) VALUES (?, …), … tail`.
    pub(crate) fn values_sql(&self, rows: usize, tail: &str) -> String {
        format!(
            "INSERT INTO {} ({}) VALUES {} {tail}",
            self.name,
            self.column_list(),
            value_rows(self.width(), rows)
        )
    }

    /// Refuses cells that do not fill whole rows of this table's kinds: a programming error,
    /// reported rather than written into the wrong columns.
    fn check(&self, cells: &[Cell<'_>]) -> Result<(), StoreError> {
        let width = self.width();
        let misfit = |why: String| StoreError::Corrupt(format!("batch of {}: {why}", self.name));
        if width == 0 || !cells.len().is_multiple_of(width) {
            return Err(misfit(format!("{} cells for {width} columns", cells.len())));
        }
        for (i, cell) in cells.iter().enumerate() {
            let (name, kind) = self
                .columns
                .get(i % width)
                .copied()
                .unwrap_or(("?", Kind::Text));
            if cell.kind() != kind {
                return Err(misfit(format!("column {name} is {kind:?}, given {cell:?}")));
            }
        }
        Ok(())
    }

    /// Writes `cells` (whole rows, in column order) followed by `tail` (`ON CONFLICT …`,
    /// `RETURNING …`); the rows `RETURNING` gave. Nothing is sent for no rows.
    pub(crate) async fn insert(
        &self,
        tx: &mut Tx<'_>,
        backend: Backend,
        cells: &[Cell<'_>],
        tail: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.check(cells)?;
        if cells.is_empty() {
            return Ok(Vec::new());
        }
        match backend {
            Backend::Postgres => self.insert_pg(tx, cells, tail).await,
            Backend::Sqlite => self.insert_sqlite(tx, cells, tail).await,
        }
    }

    async fn insert_pg(
        &self,
        tx: &mut Tx<'_>,
        cells: &[Cell<'_>],
        tail: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut arrays: Vec<Array> = self
            .columns
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Text => Array::Text(TextArray::default()),
                Kind::Int => Array::Int(IntArray::default()),
            })
            .collect();
        for row in cells.chunks(self.width()) {
            for (array, cell) in arrays.iter_mut().zip(row) {
                match (array, cell) {
                    (Array::Text(array), Cell::Text(value)) => array.push(*value),
                    (Array::Int(array), Cell::Int(value)) => array.push(*value),
                    // `check` has matched every cell to its column's kind.
                    _ => {}
                }
            }
        }
        let sql = self.unnest_sql(tail);
        let query = arrays.into_iter().fold(sqlx::query(&sql), |query, array| {
            query.bind(match array {
                Array::Text(array) => array.finish(),
                Array::Int(array) => array.finish(),
            })
        });
        Ok(query.fetch_all(&mut **tx).await?)
    }

    async fn insert_sqlite(
        &self,
        tx: &mut Tx<'_>,
        cells: &[Cell<'_>],
        tail: &str,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let width = self.width();
        let mut returned = Vec::new();
        for rows in chunks(cells.len() / width, SQLITE_ROWS) {
            let sql = self.values_sql(rows.len(), tail);
            let chunk = cells
                .get(rows.start * width..rows.end * width)
                .unwrap_or_default();
            let query = chunk
                .iter()
                .fold(sqlx::query(&sql), |query, cell| match cell {
                    Cell::Text(value) => query.bind(*value),
                    Cell::Int(value) => query.bind(*value),
                });
            returned.extend(query.fetch_all(&mut **tx).await?);
        }
        Ok(returned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIRS: BatchTable = BatchTable {
        name: "pairs",
        columns: &[("name", Kind::Text), ("count", Kind::Int)],
    };

    #[test]
    fn both_dialects_name_the_columns_once_and_in_order() {
        assert_eq!(
            PAIRS.unnest_sql("ON CONFLICT (name) DO NOTHING"),
            "INSERT INTO pairs (name, count) SELECT * FROM UNNEST($1::text[], $2::bigint[]) ON CONFLICT (name) DO NOTHING"
        );
        assert_eq!(
            PAIRS.values_sql(2, "RETURNING name"),
            "INSERT INTO pairs (name, count) VALUES (?, ?), (?, ?) RETURNING name"
        );
    }

    #[test]
    fn cells_must_fill_whole_rows_of_the_right_kinds() {
        assert!(PAIRS.check(&[]).is_ok());
        assert!(
            PAIRS
                .check(&[
                    "a".into(),
                    1.into(),
                    None::<&str>.into(),
                    None::<i64>.into()
                ])
                .is_ok()
        );
        assert!(PAIRS.check(&["a".into()]).is_err(), "half a row");
        assert!(
            PAIRS.check(&[1.into(), "a".into()]).is_err(),
            "kinds swapped"
        );
    }
}
