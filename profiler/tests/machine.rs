//! The machine bound: machine samples in a trace become `Profile::machine`. (What `hue stats`
//! and `hue suggest` say of it is tested in `reports/tests/machine.rs`.)

use hue_profiler::{Options, Profile, Trace, suggest};
use hue_runtime::trace::{MachineSample, Record};
use hue_testkit as testing;

const S: u64 = 1_000_000_000;

fn profile(machine_samples: bool) -> (Trace, Profile) {
    let bytes = testing::one_busy_second_file(machine_samples);
    let trace = Trace::from_bytes("machine.hue", bytes).unwrap();
    let profile = Profile::read(&trace).unwrap();
    (trace, profile)
}

#[test]
fn machine_samples_give_the_cores_used_and_the_bound() {
    let (trace, p) = profile(true);
    let m = p.machine.clone().expect("machine samples were read");
    assert_eq!(m.cores, 2);
    assert_eq!(m.wall_ns, S);
    assert!((m.process_cores() - 1.0).abs() < 1e-9);
    assert!((m.worker_cores() - 0.8).abs() < 1e-9);
    assert!((m.rest_of_process_cores() - 0.2).abs() < 1e-9);
    assert!((m.other_process_cores().unwrap() - 0.5).abs() < 1e-9);
    // 2 cores − 0.5 for other processes, over the 1.0 the process used.
    assert!((m.speedup_bound().unwrap() - 1.5).abs() < 1e-9);
    let report = suggest(&trace, &p, &Options::default()).unwrap();
    assert!(report.to_json().contains("\"process_cpu_ns\": 1000000000"));
}

#[test]
fn traces_without_machine_samples_have_no_machine() {
    let (trace, p) = profile(false);
    assert_eq!(p.machine, None);
    let report = suggest(&trace, &p, &Options::default()).unwrap();
    assert!(
        !report.to_json().contains("process_cpu_ns"),
        "{}",
        report.to_json()
    );
}

/// Workers that waited for a CPU a fifth of the time they were ready to run.
#[test]
fn the_workers_wait_for_a_cpu_is_a_share_of_their_ready_time() {
    let records: Vec<Record> = testing::one_busy_second(true)
        .into_iter()
        .map(|r| match r {
            // Cumulative, like the cores: the latest sample holds the whole run.
            Record::Machine(m) => Record::Machine(MachineSample {
                workers_cpu_wait: Some(m.at / 5),
                ..m
            }),
            r => r,
        })
        .collect();
    let bytes = testing::encode(&records, 1, "test", "", true);
    let p = Profile::read(&Trace::from_bytes("wait.hue", bytes).unwrap()).unwrap();
    // The worker ran 0.8 s; 0.2 s waiting makes a fifth of its 1.0 s ready.
    let m = p.machine.as_ref().unwrap();
    let share = m.workers_cpu_wait_share().unwrap();
    assert!((share - 0.2).abs() < 1e-9, "{share}");
    assert!(m.cpu_held_workers_back());
    let (_, p) = profile(true);
    assert_eq!(p.machine.unwrap().workers_cpu_wait_share(), None);
}
