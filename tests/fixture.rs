//! `hue stats` and `hue suggest` on the checked-in v1 trace, which holds every record kind
//! and extreme values (ids of `u32::MAX`, a worker id of `u16::MAX`): a stray large id must
//! neither make the profiler allocate a table for four billion ids (it aborted, out of
//! memory) nor print a row for every id below it.

mod common;

use common::{FIXTURE, hue};

#[test]
fn stats_and_suggest_read_the_checked_in_trace() {
    let (code, stdout, stderr) = hue(&["stats", FIXTURE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("encrypt") && stdout.contains("accept"),
        "{stdout}"
    );
    assert!(
        stdout.lines().count() < 100,
        "{} lines",
        stdout.lines().count()
    );
    assert!(
        stdout.contains("\n65535 "),
        "the stray worker is listed once: {stdout}"
    );
    let (code, stdout, stderr) = hue(&["suggest", FIXTURE]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("encrypt"), "{stdout}");
}
