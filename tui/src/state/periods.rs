//! A replayed trace's periods by index, as runs of consecutive periods: the reader from the
//! start grows the first run, each seek adds a run where the user went, and runs that meet
//! are joined. A period is read once per reader; where two readers made the same period they
//! made the same snapshot (`tui/tests/seek.rs` checks it), so the one already held is kept.

use std::collections::BTreeMap;

use hue_formats::telemetry::Snapshot;

/// Runs of consecutive periods, by the index of their first period.
#[derive(Clone, Debug, Default)]
pub struct Periods {
    runs: BTreeMap<u64, Vec<Snapshot>>,
}

/// The index of the period `s` covers: it ends at `at_ns`, a multiple of its length.
pub fn index_of(s: &Snapshot) -> u64 {
    (s.at_ns / s.period_ns.max(1)).saturating_sub(1)
}

impl Periods {
    /// Takes in `batch`, consecutive periods, oldest first.
    pub fn insert(&mut self, batch: Vec<Snapshot>) {
        let Some(first) = batch.first().map(index_of) else {
            return;
        };
        // The run to grow: the one holding `first` or ending right before it, else `batch`.
        let before = self
            .runs
            .range(..=first)
            .next_back()
            .filter(|(start, run)| *start + run.len() as u64 >= first)
            .map(|(start, _)| *start);
        let (start, mut run) = match before {
            Some(start) => {
                let mut run = self.runs.remove(&start).expect("the run exists");
                let have = start + run.len() as u64 - first;
                run.extend(batch.into_iter().skip(have as usize));
                (start, run)
            }
            None => (first, batch),
        };
        // Join the runs it now reaches.
        loop {
            let end = start + run.len() as u64;
            let Some((&next, _)) = self.runs.range(start + 1..=end).next() else {
                break;
            };
            let later = self.runs.remove(&next).expect("the run exists");
            let offset = (next - start) as usize;
            for (j, s) in later.into_iter().enumerate() {
                match run.get_mut(offset + j) {
                    Some(slot) => *slot = s,
                    None => run.push(s),
                }
            }
        }
        self.runs.insert(start, run);
    }

    /// The period of index `i`, if read.
    pub fn get(&self, i: u64) -> Option<&Snapshot> {
        let (start, run) = self.runs.range(..=i).next_back()?;
        run.get((i - start) as usize)
    }

    /// The periods read without a gap up to and including `i`, oldest first; empty if `i`
    /// has not been read.
    pub fn through(&self, i: u64) -> &[Snapshot] {
        match self.runs.range(..=i).next_back() {
            Some((start, run)) if i - start < run.len() as u64 => &run[..=(i - start) as usize],
            _ => &[],
        }
    }

    /// Whether every period of `first..=last` has been read.
    pub fn holds(&self, first: u64, last: u64) -> bool {
        self.through(last).len() as u64 > last - first.min(last)
    }

    /// The latest period read.
    pub fn last(&self) -> Option<&Snapshot> {
        self.runs.values().next_back().and_then(|r| r.last())
    }

    /// Periods read from the start without a gap.
    pub fn from_start(&self) -> &[Snapshot] {
        self.runs.get(&0).map_or(&[], |r| &r[..])
    }

    /// Whether nothing has been read.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Every period read, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Snapshot> {
        self.runs.values().flatten()
    }

    /// How many periods have been read.
    pub fn len(&self) -> usize {
        self.runs.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 100;

    fn snaps(first: u64, n: u64, tag: u64) -> Vec<Snapshot> {
        (first..first + n)
            .map(|i| Snapshot {
                seq: i + 1,
                at_ns: (i + 1) * P,
                period_ns: P,
                dropped_records: tag,
                ..Snapshot::default()
            })
            .collect()
    }

    /// (first index, length) of each run.
    fn runs(p: &Periods) -> Vec<(u64, usize)> {
        p.runs.iter().map(|(s, r)| (*s, r.len())).collect()
    }

    #[test]
    fn runs_grow_meet_and_join() {
        let mut p = Periods::default();
        p.insert(snaps(0, 5, 0));
        p.insert(snaps(20, 5, 1));
        assert_eq!(runs(&p), [(0, 5), (20, 5)]);
        assert!(p.get(7).is_none() && p.through(7).is_empty());
        assert_eq!(p.through(22).len(), 3);
        assert!(p.holds(20, 24) && !p.holds(18, 24) && p.holds(0, 0));
        // Right after the first run: it grows.
        p.insert(snaps(5, 5, 0));
        assert_eq!(runs(&p), [(0, 10), (20, 5)]);
        // Overlapping both: one run, the periods held kept.
        p.insert(snaps(8, 14, 2));
        assert_eq!(runs(&p), [(0, 25)]);
        let tags: Vec<u64> = p.iter().map(|s| s.dropped_records).collect();
        let mut expect = vec![0; 10];
        expect.extend([2; 10]);
        expect.extend([1; 5]);
        assert_eq!(tags, expect);
        assert!(
            p.iter().enumerate().all(|(i, s)| index_of(s) == i as u64),
            "in order, no period twice"
        );
        assert_eq!(p.last().unwrap().at_ns, 25 * P);
        assert_eq!(p.from_start().len(), 25);
    }

    #[test]
    fn a_run_before_another_that_reaches_past_it_swallows_it() {
        let mut p = Periods::default();
        p.insert(snaps(10, 2, 1));
        p.insert(snaps(3, 20, 2));
        assert_eq!(runs(&p), [(3, 20)]);
        assert_eq!(p.get(10).unwrap().dropped_records, 1);
        assert_eq!(p.get(12).unwrap().dropped_records, 2);
        assert!(p.from_start().is_empty());
    }
}
