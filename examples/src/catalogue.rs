//! The workloads' catalogue: each workload's name, what it is, the handlers it queues callbacks
//! of, and the variants (colorings) it runs in, with a way to run any of them. `hue demo` and
//! `hue serve` take their workloads, flags and handler lists from here, so that a workload
//! gains a variant or a handler in one place.
//!
//! ```no_run
//! use hue_examples::{Load, catalogue};
//!
//! let fs = catalogue::find("fileserver").unwrap();
//! for v in fs.variants {
//!     let s = v.run_with(hue_runtime::Runtime::builder(), 2, Load::default())?;
//!     println!("{}: {s}", v.label);
//! }
//! # Ok::<(), hue_examples::Error>(())
//! ```

use hue_runtime::Builder;

use crate::{Load, Result, Summary, fileserver, pipeline, webserver};

/// Where a connection's stages run, in the file server and the web server (the pipeline has
/// its own, [`pipeline::Coloring`]). Which stages follow the connection is the workload's
/// own: see [`fileserver`] and [`webserver`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Coloring {
    /// Everything in the default color: one callback at a time, however many workers.
    #[default]
    Serial,
    /// The connection's stages in that connection's color: in the file server only
    /// `encrypt`, in the web server every stage but `accept` and `log`.
    ByConnection,
}

impl Coloring {
    /// A short name: `serial`, `by-connection`.
    pub fn name(self) -> &'static str {
        match self {
            Coloring::Serial => "serial",
            Coloring::ByConnection => "by-connection",
        }
    }
}

/// One workload of the catalogue.
#[derive(Debug)]
#[non_exhaustive]
pub struct Workload {
    /// Its name on the command line and in a [`Summary`]: `fileserver`, `webserver`,
    /// `pipeline`.
    pub name: &'static str,
    /// One line on what it is and which paper's experiment it reproduces.
    pub about: &'static str,
    /// The handlers it may queue callbacks of, in any variant: what a recolor policy may
    /// name, and what a profile of it should know of (a handler not seen in a trace is one
    /// that never ran).
    pub handlers: &'static [&'static str],
    /// Its variants; the first is the program as written, uncolored (everything in the
    /// default color), which the others are compared with.
    pub variants: &'static [Variant],
    /// A few sentences on what its colorings do and why they are safe.
    pub coloring: &'static str,
}

/// One way to run a workload: a coloring (and, for the pipeline, a staging).
#[derive(Debug)]
#[non_exhaustive]
pub struct Variant {
    /// Its name on the command line: `serial`, `by-connection`, `staged`, `staged-coarse`.
    pub name: &'static str,
    /// How a table labels it: `uncolored`, `encrypt by connection`…
    pub label: &'static str,
    /// What it colors.
    pub about: &'static str,
    setup: Setup,
}

#[derive(Clone, Copy, Debug)]
enum Setup {
    Fileserver(Coloring),
    Webserver(Coloring),
    Pipeline(pipeline::Coloring, pipeline::Stages),
}

impl Variant {
    /// Whether it is the program as written: every callback in the default color.
    pub fn is_uncolored(&self) -> bool {
        matches!(
            self.setup,
            Setup::Fileserver(Coloring::Serial)
                | Setup::Webserver(Coloring::Serial)
                | Setup::Pipeline(pipeline::Coloring::Serial, _)
        )
    }

    /// The web server's coloring, for a variant of the web server (what `hue serve` serves).
    pub fn webserver_coloring(&self) -> Option<Coloring> {
        match self.setup {
            Setup::Webserver(c) => Some(c),
            _ => None,
        }
    }

    /// Runs this variant with its load generator on `workers` workers of a runtime from
    /// `builder`, under `load` and the workload's other defaults.
    pub fn run_with(&self, builder: Builder, workers: usize, load: Load) -> Result<Summary> {
        match self.setup {
            Setup::Fileserver(coloring) => fileserver::run_with(
                builder,
                fileserver::Config {
                    workers,
                    coloring,
                    load,
                    ..fileserver::Config::default()
                },
            ),
            Setup::Webserver(coloring) => webserver::run_with(
                builder,
                webserver::Config {
                    workers,
                    coloring,
                    load,
                    ..webserver::Config::default()
                },
            ),
            Setup::Pipeline(coloring, stages) => pipeline::run_with(
                builder,
                pipeline::Config {
                    workers,
                    coloring,
                    stages,
                    load,
                    ..pipeline::Config::default()
                },
            ),
        }
    }
}

impl Workload {
    /// Its variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&'static Variant> {
        // The catalogue's entries are statics, so their variants are too.
        find(self.name)?.variants.iter().find(|v| v.name == name)
    }

    /// The program as written: its first variant, uncolored.
    pub fn uncolored(&self) -> &Variant {
        &self.variants[0]
    }
}

/// Every workload, the default first.
pub static WORKLOADS: &[Workload] = &[FILESERVER, WEBSERVER, PIPELINE];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// Every workload's name, the default first.
pub fn names() -> impl Iterator<Item = &'static str> {
    WORKLOADS.iter().map(|w| w.name)
}

const FILESERVER: Workload = Workload {
    name: "fileserver",
    about: "clients fetch 64 KiB blocks, each sealed with ChaCha20-Poly1305 under the \
            connection's key (libasync-smp's SFS experiment)",
    handlers: &["accept", "open", "read", "encrypt", "write", "timeout"],
    variants: &[
        Variant {
            name: "serial",
            label: "uncolored",
            about: "every callback in the default color",
            setup: Setup::Fileserver(Coloring::Serial),
        },
        Variant {
            name: "by-connection",
            label: "encrypt by connection",
            about: "`encrypt` in its connection's color, the rest in the default color",
            setup: Setup::Fileserver(Coloring::ByConnection),
        },
    ],
    coloring: "Uncolored, every callback runs in the default color: one at a time, however \
               many workers.\nColoring `encrypt` by connection (one line, see \
               examples/README.md) lets connections seal blocks in parallel.",
};

const WEBSERVER: Workload = Workload {
    name: "webserver",
    about: "HTTP/1.1 keep-alive clients fetch small cached files (libasync-smp's web server)",
    handlers: &[
        "accept", "open", "read", "parse", "respond", "log", "write", "timeout",
    ],
    variants: &[
        Variant {
            name: "serial",
            label: "uncolored",
            about: "every stage in the default color: one callback at a time, however many \
                    workers",
            setup: Setup::Webserver(Coloring::Serial),
        },
        Variant {
            name: "by-connection",
            label: "by connection",
            about: "each connection's stages in that connection's color; `accept` and `log` \
                    in the default color",
            setup: Setup::Webserver(Coloring::ByConnection),
        },
    ],
    coloring: "Coloring every stage by connection lets connections proceed in parallel; the \
               shared access log keeps its own color.",
};

const PIPELINE: Workload = Workload {
    name: "pipeline",
    about: "requests go through accept, read, parse, query (a shared database), respond and \
            log (a shared log): Safe at Any Speed's Figure 1",
    handlers: &[
        "accept",
        "open",
        "read",
        "parse",
        "query",
        "respond",
        "query_respond",
        "log",
        "write",
        "timeout",
    ],
    variants: &[
        Variant {
            name: "serial",
            label: "uncolored",
            about: "every stage in the default color",
            setup: Setup::Pipeline(pipeline::Coloring::Serial, pipeline::Stages::Fine),
        },
        Variant {
            name: "staged",
            label: "staged",
            about: "`query` in the database's color, `log` in the log's, every other stage in \
                    its connection's color",
            setup: Setup::Pipeline(pipeline::Coloring::Staged, pipeline::Stages::Fine),
        },
        Variant {
            name: "staged-coarse",
            label: "staged, coarse",
            about: "as staged, with `query` and `respond` merged into `query_respond`, in the \
                    database's color",
            setup: Setup::Pipeline(pipeline::Coloring::Staged, pipeline::Stages::Coarse),
        },
    ],
    coloring: "Staged: query in the database's color, log in the log's, every other stage in \
               its connection's color;\nno conflicts means no two callbacks ever touched the \
               shared state at once. Coarse stages expose less parallelism.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_first_variant_is_the_uncolored_program() {
        let names: Vec<_> = names().collect();
        assert_eq!(names, ["fileserver", "webserver", "pipeline"]);
        for w in WORKLOADS {
            assert!(w.uncolored().is_uncolored(), "{}", w.name);
            assert!(
                w.variants[1..].iter().all(|v| !v.is_uncolored()),
                "{}",
                w.name
            );
            let mut vs: Vec<_> = w.variants.iter().map(|v| v.name).collect();
            vs.sort_unstable();
            vs.dedup();
            assert_eq!(vs.len(), w.variants.len(), "{}", w.name);
            for v in w.variants {
                assert!(std::ptr::eq(w.variant(v.name).unwrap(), v));
            }
        }
    }
}
