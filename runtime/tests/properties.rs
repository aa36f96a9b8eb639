//! Property tests: random programs (colors, nested spawns, panics, outside threads, worker
//! counts, batch sizes, stealing on or off) must keep invariants 1–4.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hue_runtime::{Color, Cx, Handler, Runtime};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Op {
    /// Which outside thread queues it (0 or 1).
    thread: usize,
    color: usize,
    /// Colors of children it queues from inside, each queued in order.
    children: Vec<usize>,
    panics: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (
        0..2usize,
        0..6usize,
        prop::collection::vec(0..6usize, 0..4),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(thread, color, children, panics)| Op {
            thread,
            color,
            children,
            panics,
        })
}

struct Watch {
    running: Vec<AtomicBool>,
    overlap: AtomicBool,
    /// Per color, the (producer, seq) pairs in start order.
    starts: Mutex<HashMap<usize, Vec<(u64, u64)>>>,
    ran: AtomicU64,
}

fn color(c: usize) -> Color {
    if c == 0 {
        Color::DEFAULT
    } else {
        Color::of(&(c as u64 + 1000))
    }
}

fn body(w: &Watch, c: usize, producer: u64, seq: u64) {
    if w.running[c].swap(true, Ordering::SeqCst) {
        w.overlap.store(true, Ordering::SeqCst);
    }
    w.starts
        .lock()
        .unwrap()
        .entry(c)
        .or_default()
        .push((producer, seq));
    std::hint::black_box((0..100).sum::<u64>());
    w.running[c].store(false, Ordering::SeqCst);
    w.ran.fetch_add(1, Ordering::SeqCst);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_keep_the_invariants(
        ops in prop::collection::vec(op(), 1..200),
        workers in 1..4usize,
        batch in 1..8usize,
        stealing in any::<bool>(),
    ) {
        let rt = Runtime::builder().workers(workers).batch(batch).stealing(stealing).build().unwrap();
        let h = Handler::new("prop");
        let boom = Handler::new("prop-panics");
        let w = Arc::new(Watch {
            running: (0..6).map(|_| AtomicBool::new(false)).collect(),
            overlap: AtomicBool::new(false),
            starts: Mutex::new(HashMap::new()),
            ran: AtomicU64::new(0),
        });
        let queued = Arc::new(AtomicU64::new(0));
        let panics_expected = ops.iter().filter(|o| o.panics).count() as u64;
        std::thread::scope(|s| {
            for t in 0..2usize {
                let (ops, w, handle, queued) = (&ops, w.clone(), rt.handle(), queued.clone());
                s.spawn(move || {
                    let mut seq = [0u64; 6];
                    for op in ops.iter().filter(|o| o.thread == t) {
                        let (c, my_seq) = (op.color, seq[op.color]);
                        seq[c] += 1;
                        let (w, children, panics, q) = (w.clone(), op.children.clone(), op.panics, queued.clone());
                        queued.fetch_add(1, Ordering::SeqCst);
                        let target = if panics { boom } else { h }.color(color(c));
                        handle.spawn(target, move |cx: &mut Cx<'_>| {
                            body(&w, c, t as u64, my_seq);
                            // Children: producer id is 100 + this op's color, sequence
                            // numbers per (producer color, child color), kept in `w`.
                            for &child in &children {
                                let cseq = {
                                    let mut st = w.starts.lock().unwrap();
                                    let e = st.entry(100 + c * 10 + child).or_default();
                                    e.push((0, 0));
                                    e.len() as u64
                                };
                                let w2 = w.clone();
                                q.fetch_add(1, Ordering::SeqCst);
                                cx.spawn(h.color(color(child)), move |_| {
                                    body(&w2, child, 100 + c as u64, cseq)
                                });
                            }
                            if panics {
                                panic!("planned panic in color {c}");
                            }
                        }).unwrap();
                    }
                });
            }
        });
        rt.wait_idle();
        let report = rt.shutdown();
        prop_assert!(!w.overlap.load(Ordering::SeqCst), "invariant 1: a color ran twice at once");
        let starts = w.starts.lock().unwrap();
        for (c, seen) in starts.iter().filter(|(c, _)| **c < 100) {
            let mut last: HashMap<u64, u64> = HashMap::new();
            for &(p, s) in seen {
                if let Some(prev) = last.insert(p, s) {
                    prop_assert!(prev < s, "invariant 2: color {} started {}:{} after {}:{}", c, p, s, p, prev);
                }
            }
        }
        prop_assert_eq!(report.callbacks_run + report.dropped_total(), queued.load(Ordering::SeqCst), "invariant 3");
        prop_assert_eq!(report.dropped_total(), 0);
        prop_assert_eq!(report.panics_total(), panics_expected, "invariant 4: every panic counted");
        if panics_expected > 0 {
            prop_assert_eq!(report.panics[0].handler.name(), "prop-panics");
        }
    }
}
