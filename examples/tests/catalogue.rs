//! The workloads' catalogue says what the workloads do: every handler a variant's trace names
//! is in its workload's list (a policy or a profile that trusts the list misses none), and
//! each variant runs as the workload and coloring it claims.

use std::collections::BTreeSet;
use std::time::Duration;

use hue_examples::{Load, catalogue};
use hue_runtime::Runtime;
use hue_runtime::trace::{NameKind, Record, TraceReader};

#[test]
fn every_handler_a_variant_runs_is_in_its_workloads_list() {
    let dir = std::env::temp_dir().join(format!("hue-catalogue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for w in catalogue::WORKLOADS {
        let mut seen = BTreeSet::new();
        for v in w.variants {
            let path = dir.join(format!("{}-{}.hue", w.name, v.name));
            // Long enough that a loaded machine still answers some requests (150 ms saw none
            // at load 10: the runtime's calibration and the first connections ate it).
            let load = Load {
                connections: 4,
                duration: Duration::from_millis(500),
                ..Load::default()
            };
            let s = v
                .run_with(Runtime::builder().trace_file(&path), 2, load)
                .unwrap();
            assert_eq!(s.workload, w.name);
            assert!(s.requests > 0, "{} {}: {s}", w.name, v.name);
            assert_eq!(s.conflicts, 0, "{} {}: {s}", w.name, v.name);
            let mut reader = TraceReader::open(&path).unwrap();
            while let Some(r) = reader.next_record() {
                if let Record::Name(n) = r.unwrap()
                    && n.kind == NameKind::Handler
                {
                    seen.insert(n.name);
                }
            }
        }
        let listed: BTreeSet<String> = w.handlers.iter().map(|h| h.to_string()).collect();
        let unlisted: Vec<_> = seen.difference(&listed).collect();
        assert!(
            unlisted.is_empty(),
            "{} runs handlers its catalogue entry does not list: {unlisted:?}",
            w.name
        );
        // The request path's handlers run in every short run.
        for h in ["accept", "open", "read"] {
            assert!(seen.contains(h), "{}: {h} never ran: {seen:?}", w.name);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
