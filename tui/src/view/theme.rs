//! Colours and glyphs. Every distinction drawn in colour is also drawn in a glyph or a word,
//! so it reads in 16-colour terminals, under `NO_COLOR`, and for colour-blind users; the
//! colours are the 16 named ANSI ones, picked from pairs that colour-blind users tell apart
//! (blue and yellow, not red and green).

use ratatui::style::{Color, Modifier, Style};

/// Styles for one run: with colours or without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Whether to use colour at all (`NO_COLOR` unset).
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` environment variable is set to anything non-empty.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Running callbacks.
    pub fn busy(self) -> Style {
        self.fg(Color::Blue)
    }

    /// Waiting for a CPU.
    pub fn cpu_wait(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Idle while another worker held a color with callbacks waiting (serialization-bound).
    pub fn serial(self) -> Style {
        self.fg(Color::Magenta)
    }

    /// Awake but not running a callback.
    pub fn idle(self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Something that needs a look (a hot color, a conflict, a panic).
    pub fn hot(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// A problem (waiting, lost connection, cut-short trace).
    pub fn problem(self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    /// Headings and the active tab.
    pub fn heading(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Less important text.
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    /// The selected row: reversed, which every terminal shows.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
}

/// Glyph of running callbacks in a worker's bar.
pub const BUSY: char = '█';
/// Glyph of idle while another worker held a color with callbacks waiting.
pub const SERIAL: char = '▓';
/// Glyph of waiting for a CPU.
pub const CPU_WAIT: char = '▒';
/// Glyph of awake but not running a callback.
pub const IDLE: char = '·';
/// Glyph of asleep.
pub const PARKED: char = ' ';
