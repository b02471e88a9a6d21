//! Benchmark 3, snapshots: a 50,000-friend `presence_snapshot` parsed, applied and
//! diffed by kith-core (`parse_server_message` + `PresenceStore::apply_snapshot`), then
//! the same snapshot with 1 % of the friends changed re-applied, which must yield
//! exactly those diffs. Baseline: serde_json into flat structs + a `HashMap`, same diff.
//! Pure CPU on one thread; no sockets.

use std::time::Instant;

use anyhow::{bail, ensure, Result};
use kith_core::protocol::{parse_server_message, ServerMessage};
use kith_core::{ChangeCause, PresenceStore};

use crate::clients::{FlatSnapshot, FlatStore};
use crate::frames::{self, STATUSES};
use crate::results::Snapshot;
use crate::stats::Stat;
use crate::Plan;

const MAX_BYTES: usize = 64 << 20;

fn kith_apply(store: &mut PresenceStore, text: &str) -> Result<usize> {
    let ServerMessage::Snapshot { friends, .. } = parse_server_message(text, MAX_BYTES)? else {
        bail!("not a snapshot");
    };
    Ok(store.apply_snapshot(friends, ChangeCause::Resync).len())
}

fn flat_apply(store: &mut FlatStore, text: &str) -> Result<usize> {
    let snapshot: FlatSnapshot<'_> = serde_json::from_str(text)?;
    ensure!(snapshot.kind == "presence_snapshot", "not a snapshot");
    Ok(store.apply_snapshot(snapshot.friends))
}

pub fn run(plan: &Plan) -> Result<Snapshot> {
    let n = plan.snapshot_friends;
    let first = frames::snapshot(n, |_| (STATUSES[0], 0));
    // Every hundredth friend is away now, with a newer seq.
    let second = frames::snapshot(n, |i| {
        if i % 100 == 0 {
            (STATUSES[1], 1)
        } else {
            (STATUSES[0], 0)
        }
    });
    let changed = n.div_ceil(100);
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let (mut kith_full, mut kith_re, mut flat_full, mut flat_re) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut kith_full_diffs, mut kith_re_diffs, mut flat_re_diffs) = (0, 0, 0);
    for run in 0..plan.snapshot_runs {
        let kith_first = run % 2 == 0;
        for kith in [kith_first, !kith_first] {
            if kith {
                let mut store = PresenceStore::new();
                let t = Instant::now();
                let diffs = kith_apply(&mut store, &first)?;
                kith_full.push(ms(t));
                kith_full_diffs = diffs as u64;
                let t = Instant::now();
                let diffs = kith_apply(&mut store, &second)?;
                kith_re.push(ms(t));
                kith_re_diffs = diffs as u64;
            } else {
                let mut store = FlatStore::default();
                let t = Instant::now();
                flat_apply(&mut store, &first)?;
                flat_full.push(ms(t));
                let t = Instant::now();
                let diffs = flat_apply(&mut store, &second)?;
                flat_re.push(ms(t));
                flat_re_diffs = diffs as u64;
            }
        }
    }
    eprintln!(
        "  {n} friends: {kith_full_diffs} diffs on first apply; {changed} changed, re-apply gave {kith_re_diffs} diffs (baseline {flat_re_diffs})"
    );
    // Correctness, not timing: the re-apply emits exactly the changed friends.
    ensure!(
        kith_full_diffs == n,
        "first apply: {kith_full_diffs} diffs for {n} new friends"
    );
    ensure!(
        kith_re_diffs == changed,
        "re-apply: {kith_re_diffs} diffs for {changed} changes"
    );
    ensure!(
        flat_re_diffs == changed,
        "baseline re-apply: {flat_re_diffs} diffs"
    );
    let (kith_full, flat_full) = (Stat::of(kith_full), Stat::of(flat_full));
    let (kith_re, flat_re) = (Stat::of(kith_re), Stat::of(flat_re));
    Ok(Snapshot {
        friends: n,
        bytes: first.len(),
        changed,
        full_ratio: kith_full.ratio_to(&flat_full),
        reapply_ratio: kith_re.ratio_to(&flat_re),
        kith_full_ms: kith_full,
        serde_full_ms: flat_full,
        kith_reapply_ms: kith_re,
        serde_reapply_ms: flat_re,
        kith_full_diffs,
        kith_reapply_diffs: kith_re_diffs,
        serde_reapply_diffs: flat_re_diffs,
    })
}
