//! hue-reports: speedup charts, HTML reports and trace exports. Nothing is implemented yet.
