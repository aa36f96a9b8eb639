//! Statistics: a tiny trace in, the tables of `hue stats` out. Times in traces are µs.

mod common;

use common::{Show, check};

#[test]
fn tables_per_handler_color_worker_and_state() {
    check(
        "
        1 accept q=0 s=0 e=5 io
        2 read q=10 s=12 e=20 k=1 io r=10
        3 encrypt q=20 s=20 e=120 k=1 p=2 cpu=95
        4 read q=30 s=120 e=128 k=2 io r=30
        5 encrypt q=128 s=130 e=230 k=2 p=4 r=128 cpu=90
        6 encrypt q=128 s=230 e=330 k=2 p=4 r=230
        7 write q=120 s=330 e=340 k=1 p=3 w=1 c=key
        access 2 connections k=1 held=3 write
        access 4 connections k=2 held=2
        access 7 connections k=1 held=4 write
        sample w=0 from=0 to=400 busy=330 parked=50 steals=0 cpu=320
        sample w=1 from=0 to=400 busy=10 parked=380 steals=1 cpu=12
        ",
        Show::Stats(10),
        "
        t.hue: test (2 workers), 340.0 µs, 7 callbacks
        read 17 records in 1 chunk, 333 bytes; complete
        policy: none

        Handlers
        handler  calls      busy  share      mean       p50       p99       max  serial wait  worker wait  cpu/wall  coloring  conflicts  blocking  panics
        encrypt      3  300.0 µs  90.6%  100.0 µs  100.0 µs  100.0 µs  100.0 µs     102.0 µs       2.0 µs      0.93  default           0         0       0
        read         2   16.0 µs   4.8%    8.0 µs    8.0 µs    8.0 µs    8.0 µs         0 ns      92.0 µs         -  default           0         0       0
        write        1   10.0 µs   3.0%   10.0 µs   10.0 µs   10.0 µs   10.0 µs         0 ns     210.0 µs         -  by key            0         0       0
        accept       1    5.0 µs   1.5%    5.0 µs    5.0 µs    5.0 µs    5.0 µs         0 ns         0 ns         -  default           0         0       0

        Colors (the 2 busiest of 2)
        color    calls      busy  share  serial wait  worker wait  handlers
        default      6  321.0 µs  97.0%     102.0 µs      94.0 µs  encrypt, read, accept
        key 1        1   10.0 µs   3.0%         0 ns     210.0 µs  write

        Workers
        worker  calls      busy  busy/trace  parked  cpu/wall  steals  dropped
        0           6  321.0 µs       94.4%   12.5%      0.80       0        0
        1           1   10.0 µs        2.9%   95.0%      0.03       1        0

        States
        state        kind   accesses  writes    held  wait  conflicts  handlers
        connections  keyed         3       2  9.0 µs  0 ns          0  read, write

        Timeline (10.00 ms per row)
        from  calls      busy  busy/time  serial wait  conflicts
        0 ns      7  331.0 µs       3.3%     102.0 µs          0

        Runtime costs: 500 ns per callback (mean of 4 gaps on busy workers), 2.0 µs per hand-off (mean of 1 waits for an idle worker)
        ",
    );
}

/// Conflicts, panics, blocking callbacks and dropped records are counted and named.
#[test]
fn trouble_is_noted() {
    check(
        "
        1 query q=0 s=0 e=50 k=1
        2 query q=0 s=0 e=40 k=2 w=1
        3 log q=50 s=50 e=60 k=1 p=1
        4 sleepy q=60 s=60 e=2060
        access 1 db held=45 write
        access 2 db held=30 wait=10 write contended holder=query
        panic 3 index out of bounds
        blocking 4
        drops w=1 12
        ",
        Show::Stats(1),
        "
        t.hue: test (2 workers), 2.06 ms, 4 callbacks
        read 13 records in 1 chunk, 243 bytes; complete
        policy: none

        Handlers
        handler  calls     busy  share     mean      p50      p99      max  serial wait  worker wait  cpu/wall  coloring  conflicts  blocking  panics
        sleepy       1  2.00 ms  95.2%  2.00 ms  2.00 ms  2.00 ms  2.00 ms         0 ns         0 ns         -  default           0         1       0
        query        2  90.0 µs   4.3%  45.0 µs  40.0 µs  50.0 µs  50.0 µs         0 ns         0 ns         -  default           1         0       0
        log          1  10.0 µs   0.5%  10.0 µs  10.0 µs  10.0 µs  10.0 µs         0 ns         0 ns         -  default           0         0       1

        Colors (the 1 busiest of 1)
        color    calls     busy   share  serial wait  worker wait  handlers
        default      4  2.10 ms  100.0%         0 ns         0 ns  sleepy, query, log

        Workers
        worker  calls     busy  busy/trace  parked  cpu/wall  steals  dropped
        0           3  2.06 ms      100.0%       -         -       0        0
        1           1  40.0 µs        1.9%       -         -       0       12

        States
        state  kind    accesses  writes     held     wait  conflicts  handlers
        db     shared         2       2  75.0 µs  10.0 µs          1  query

        Timeline (10.00 ms per row)
        from  calls     busy  busy/time  serial wait  conflicts
        0 ns      4  2.10 ms      21.0%         0 ns          1

        Runtime costs: 0 ns per callback (mean of 2 gaps on busy workers), 0 ns per hand-off (mean of 0 waits for an idle worker)

        Notes
        - the workers dropped 12 records: the trace writer fell behind
        - 1 contended access (conflict): handlers that share state ran in parallel
        - on `db`, `query` waited for `query` 1 time
        - `sleepy` blocked (mostly off the CPU) in 1 of its callbacks: it holds a worker while it waits
        - `log` panicked 1 time (last: index out of bounds)
        ",
    );
}
