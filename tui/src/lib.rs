//! hue-tui: `hue top`, live color utilization in the terminal. Nothing is implemented yet.
