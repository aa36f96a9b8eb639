//! The one table every list is drawn with.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::theme::Theme;
use crate::state::table;

/// A list view: `table` with row `selected` highlighted, the sort column marked, hot rows
/// flagged with `!`, its note under it and, with `detail`, the selected row's detail below.
pub struct List<'a> {
    /// The rows.
    pub table: &'a table::Table,
    /// The box's title.
    pub title: &'a str,
    /// The selected row.
    pub selected: usize,
    /// The sort column.
    pub sort: usize,
    /// Whether the detail pane is open.
    pub detail: bool,
    /// Colours.
    pub theme: Theme,
}

impl Widget for List<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let List {
            table,
            title,
            selected,
            sort,
            detail,
            theme,
        } = self;

        let detail_lines = if detail {
            let want = table
                .rows
                .get(selected.min(table.rows.len().saturating_sub(1)))
                .map_or(1, |r| r.detail.len()) as u16
                + 3;
            want.min(area.height / 2 + 2)
        } else {
            0
        };
        let [list, note, more] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(table.note.as_ref().map_or(0, |n| {
                let width = usize::from(area.width.max(1));
                // Wrapping breaks at words: allow a little more than the bare division.
                (n.chars().count() * 11 / 10).div_ceil(width).clamp(1, 4) as u16
            })),
            Constraint::Length(detail_lines),
        ])
        .areas(area);
        // The first column as wide as its longest name (within reason), every other one its
        // width plus the sort mark, and what is left over at the right.
        let first = table
            .rows
            .iter()
            .filter_map(|r| r.cells.first())
            .map(|c| c.chars().count())
            .chain(table.columns.first().map(|c| c.width as usize))
            .max()
            .unwrap_or(8)
            .clamp(8, 40) as u16;
        let mut widths = vec![Constraint::Length(1)];
        let last = table.columns.len().saturating_sub(1);
        // A text column last (handlers, say) takes what is left; else the space is left over.
        let text_last = table.columns.last().is_some_and(|c| !c.right) && last > 0;
        widths.extend(table.columns.iter().enumerate().map(|(i, c)| {
            if i == 0 {
                Constraint::Min(first)
            } else if i == last && text_last {
                Constraint::Fill(1)
            } else {
                Constraint::Length(c.width + 1)
            }
        }));
        if !text_last {
            widths.push(Constraint::Fill(1));
        }
        let header = Row::new(std::iter::once(Cell::from("")).chain(
            table.columns.iter().enumerate().map(|(i, c)| {
                let mark = if i == sort { "▼" } else { "" };
                let text = format!("{}{mark}", c.title);
                let line = if c.right {
                    Line::from(text).right_aligned()
                } else {
                    Line::from(text)
                };
                Cell::from(line)
            }),
        ))
        .style(theme.heading());
        let rows = table.rows.iter().map(|r| {
            let flag = if r.hot { "!" } else { " " };
            let cells = std::iter::once(Cell::from(flag)).chain(
                r.cells.iter().zip(&table.columns).map(|(text, c)| {
                    let line = if c.right {
                        Line::from(text.as_str()).right_aligned()
                    } else {
                        Line::from(text.as_str())
                    };
                    Cell::from(line)
                }),
            );
            let row = Row::new(cells);
            if r.hot { row.style(theme.hot()) } else { row }
        });
        let count = table.rows.len();
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} ({count}) "));
        let t = Table::new(rows, widths)
            .header(header)
            .block(block)
            .column_spacing(1)
            .row_highlight_style(theme.selected());
        let mut state = TableState::default();
        if count > 0 {
            state.select(Some(selected.min(count - 1)));
        }
        StatefulWidget::render(t, list, buf, &mut state);
        if let Some(n) = &table.note {
            Paragraph::new(Span::styled(n.as_str(), theme.dim()))
                .wrap(Wrap { trim: true })
                .render(note, buf);
        }
        if detail {
            let lines: Vec<Line> = match table.rows.get(selected.min(count.saturating_sub(1))) {
                Some(r) => r.detail.iter().map(|l| Line::from(l.as_str())).collect(),
                None => vec![Line::from("nothing selected")],
            };
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" detail (Enter closes) "),
                )
                .render(more, buf);
        }
    }
}
