//! One table model for every list (colors, handlers, states, advice): rows of text cells
//! with a sort key per column, filtered by name and sorted by any column.

/// A column's heading and how it is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Heading.
    pub title: &'static str,
    /// Width in cells (the first column takes what is left).
    pub width: u16,
    /// Right-aligned (numbers).
    pub right: bool,
}

impl Column {
    /// A left-aligned text column.
    pub const fn text(title: &'static str, width: u16) -> Column {
        Column {
            title,
            width,
            right: false,
        }
    }

    /// A right-aligned number column.
    pub const fn num(title: &'static str, width: u16) -> Column {
        Column {
            title,
            width,
            right: true,
        }
    }
}

/// What a row sorts by in one column.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    /// Larger first.
    Num(f64),
    /// Alphabetical.
    Text(String),
}

/// One row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The cells, one per column.
    pub cells: Vec<String>,
    /// The sort keys, one per column.
    pub keys: Vec<SortKey>,
    /// Highlighted (a hot serialized color, a conflict, a panic).
    pub hot: bool,
    /// What Enter shows about it.
    pub detail: Vec<String>,
}

/// Rows under columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Headings.
    pub columns: Vec<Column>,
    /// Rows, in display order once [`Table::arrange`]d.
    pub rows: Vec<Row>,
    /// What the table shows, as a sentence under it (what the numbers are over, say).
    pub note: Option<String>,
}

impl Table {
    /// Keeps the rows whose first cell contains `filter` (ignoring case), sorted by column
    /// `sort` (numbers largest first, text alphabetically; ties by the first cell).
    pub fn arrange(&mut self, sort: usize, filter: &str) {
        if !filter.is_empty() {
            let f = filter.to_lowercase();
            self.rows.retain(|r| {
                r.cells
                    .first()
                    .is_some_and(|c| c.to_lowercase().contains(&f))
            });
        }
        let sort = sort.min(self.columns.len().saturating_sub(1));
        self.rows.sort_by(|a, b| {
            let order = match (a.keys.get(sort), b.keys.get(sort)) {
                (Some(SortKey::Num(x)), Some(SortKey::Num(y))) => y.total_cmp(x),
                (Some(SortKey::Text(x)), Some(SortKey::Text(y))) => x.cmp(y),
                _ => std::cmp::Ordering::Equal,
            };
            order.then_with(|| a.cells.first().cmp(&b.cells.first()))
        });
    }
}
