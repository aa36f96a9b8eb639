//! The one table every list is drawn with.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::theme::Theme;
use crate::state::table;

/// `text` as it fits in `room` columns: whole, or cut with `…` at the end.
fn cut(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(room.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A list view: `table` with row `selected` highlighted, the sort column marked, hot rows
/// flagged with `!`, its note under it and, with `detail`, the selected row's detail below.
pub struct List<'a> {
    /// The rows.
    pub table: &'a table::Table,
    /// The box's title.
    pub title: &'a str,
    /// The name filter the rows went through (empty: none).
    pub filter: &'a str,
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
            filter,
            selected,
            sort,
            detail,
            theme,
        } = self;

        let detail_lines = if detail {
            // The rows its lines wrap to (words wrap a little later than the bare division),
            // and the borders.
            let width = usize::from(area.width.saturating_sub(2).max(1));
            let want = table
                .rows
                .get(selected.min(table.rows.len().saturating_sub(1)))
                .map_or(1, |r| {
                    r.detail
                        .iter()
                        .map(|l| (l.chars().count() * 11 / 10).max(1).div_ceil(width))
                        .sum::<usize>()
                }) as u16
                + 2;
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
        // The first column as wide as its longest name (within reason; no wider, so that a
        // text column last gets the room), every other one its width plus the sort mark, and
        // what is left over at the right.
        let first = table
            .rows
            .iter()
            .filter_map(|r| r.cells.first())
            .map(|c| c.chars().count())
            .chain(table.columns.first().map(|c| c.width as usize))
            // Its title and the sort mark.
            .chain(table.columns.first().map(|c| c.title.chars().count() + 1))
            .max()
            .unwrap_or(8)
            .clamp(8, 40) as u16;
        let mut widths = vec![Constraint::Length(1)];
        let last = table.columns.len().saturating_sub(1);
        // A text column last (handlers, say) takes what is left; else the space is left over.
        let text_last = table.columns.last().is_some_and(|c| !c.right) && last > 0;
        let mut fixed: Vec<u16> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 0 { first } else { c.width + 1 })
            .collect();
        // Other text columns (a color's name) grow to their longest cell while the box has
        // room beyond the columns and, where a text column is last, 20 columns for it.
        let inside = usize::from(list.width.saturating_sub(3));
        let taken = |fixed: &[u16]| -> usize {
            let n = if text_last { last } else { fixed.len() };
            fixed[..n]
                .iter()
                .map(|w| usize::from(*w) + 1)
                .sum::<usize>()
                + if text_last { 20 } else { 0 }
        };
        for (i, c) in table.columns.iter().enumerate() {
            if i == 0 || c.right || (i == last && text_last) {
                continue;
            }
            let longest = table
                .rows
                .iter()
                .filter_map(|r| r.cells.get(i))
                .map(|t| t.chars().count())
                .max()
                .unwrap_or(0)
                .min(40);
            let spare = inside.saturating_sub(taken(&fixed));
            let grow = longest.saturating_sub(usize::from(fixed[i])).min(spare);
            fixed[i] += grow as u16;
        }
        widths.extend(table.columns.iter().enumerate().map(|(i, _)| {
            if i == last && text_last {
                Constraint::Fill(1)
            } else {
                Constraint::Length(fixed[i])
            }
        }));
        if !text_last {
            widths.push(Constraint::Fill(1));
        }
        // The widths the table will give its columns (ratatui's own split of the box's inside,
        // no selection symbol), so that a cell cut short says so with `…`.
        let room: Vec<usize> = Layout::horizontal(widths.clone())
            .flex(ratatui::layout::Flex::Start)
            .spacing(1)
            .split(Rect::new(0, 0, list.width.saturating_sub(2), 1))
            .iter()
            .skip(1)
            .map(|r| usize::from(r.width))
            .collect();
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
                r.cells
                    .iter()
                    .zip(&table.columns)
                    .zip(&room)
                    .map(|((text, c), &room)| {
                        let text = cut(text, room);
                        let line = if c.right {
                            Line::from(text).right_aligned()
                        } else {
                            Line::from(text)
                        };
                        Cell::from(line)
                    }),
            );
            let row = Row::new(cells);
            if r.hot { row.style(theme.hot()) } else { row }
        });
        let count = table.rows.len();
        let title = if filter.is_empty() {
            format!(" {title} ({count}) ")
        } else {
            format!(" {title} ({count} matching {filter:?}) ")
        };
        let block = Block::default().borders(Borders::ALL).title(title);
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
            let mut lines: Vec<Line> = match table.rows.get(selected.min(count.saturating_sub(1))) {
                Some(r) => r.detail.iter().map(|l| Line::from(l.as_str())).collect(),
                None => vec![Line::from("nothing selected")],
            };
            // Lines that do not fit are counted, not cut off unsaid.
            let width = usize::from(more.width.saturating_sub(2).max(1));
            let room = usize::from(more.height.saturating_sub(2));
            let rows = |l: &Line| l.width().max(1).div_ceil(width);
            let all: usize = lines.iter().map(rows).sum();
            if all > room && room > 0 {
                // As many whole lines as leave a row for saying how many are left out.
                let mut used = 0;
                let keep = lines
                    .iter()
                    .take_while(|l| {
                        used += rows(l);
                        used < room
                    })
                    .count();
                let left = lines.len() - keep;
                lines.truncate(keep);
                lines.push(Line::styled(
                    format!("… {left} more lines: a taller terminal shows them"),
                    theme.dim(),
                ));
            }
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
