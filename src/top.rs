//! `hue top`: live color utilization in the terminal, or a recorded run replayed.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The telemetry address of the program to watch (it serves telemetry with
    /// HUE_TELEMETRY=ADDR or `hue demo --telemetry ADDR`).
    #[arg(value_name = "ADDR", default_value = hue_tui::source::live::DEFAULT_ADDR,
          conflicts_with = "replay")]
    addr: SocketAddr,
    /// Replay a recorded trace instead: play, pause, change speed, seek and step through it.
    #[arg(long, value_name = "FILE.hue")]
    replay: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    match &args.replay {
        Some(path) => hue_tui::run_replay(path)?,
        None => hue_tui::run_live(args.addr)?,
    }
    Ok(())
}
