//! A seeded workload over a faulty cluster: writers appending (one-shot
//! with retries, and streamed, sometimes aborted), a retrying reader
//! tailing, a one-shot direct reader, lists, a watch, an apply, fragment
//! listings and store probes, under a [`FaultSchedule`] drawn from the
//! same seed. [`run_case`] is one case of the sweep `core/tests/sim.rs`
//! runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, ApplyRequest, CompressionCodec, FragmentsRequest, JournalSpec, LabelSelector,
    LabelSet, ListRequest, ReadRequest, apply_request,
};

use super::cluster::ClusterConfig;
use super::faults::FaultSchedule;
use super::net::NetConfig;
use super::oracle::OracleStats;
use super::rng::SimRng;
use super::world::{SimError, World, WorldConfig};
use crate::client::{ClientConfig, Event, OpId};

/// The store every workload journal persists to.
pub const STORE: &str = "s3://sim-bucket/fragments/";

/// What one case did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaseReport {
    /// The seed.
    pub seed: u64,
    /// Steps taken.
    pub steps: u64,
    /// Virtual time the case took.
    pub elapsed: Duration,
    /// The trace hash.
    pub trace: u64,
    /// The oracles' counters.
    pub stats: OracleStats,
    /// Connections the network broke.
    pub broken_connections: u64,
}

/// The step bound of one case: more means livelock.
pub const MAX_STEPS: u64 = 200_000;

#[derive(Debug)]
struct Writer {
    journal: String,
    remaining: u32,
    current: Option<OpId>,
    serial: u32,
}

fn codec(rng: &mut SimRng) -> CompressionCodec {
    let codecs = [
        CompressionCodec::None,
        CompressionCodec::Gzip,
        CompressionCodec::Snappy,
        CompressionCodec::GzipOffloadDecompression,
        #[cfg(feature = "zstd")]
        CompressionCodec::Zstandard,
    ];
    *rng.pick(&codecs).expect("non-empty")
}

/// The world of `seed`: a cluster with two journals and a fault schedule.
pub fn world(seed: u64, start: Instant) -> World {
    let mut rng = SimRng::new(seed);
    let journals = vec!["sim/a".to_string(), "sim/b".to_string()];
    let horizon = Duration::from_secs(8);
    let faults = if rng.chance(850) {
        FaultSchedule::from_seed(rng.next_u64(), 3, &journals, &[STORE.to_string()], horizon)
    } else {
        FaultSchedule::none()
    };
    let mut config = WorldConfig::new(seed);
    config.faults = faults;
    config.cluster = ClusterConfig {
        read_chunk: *rng.pick(&[7, 64, 1000, 32736]).expect("non-empty"),
        buggify: rng.chance(500),
        ..ClusterConfig::default()
    };
    config.net = NetConfig {
        jitter: Duration::from_micros(rng.below(4000)),
        loss_permille: *rng.pick(&[0, 0, 2, 10]).expect("non-empty") as u32,
        ..NetConfig::default()
    };
    let mut client = ClientConfig::default();
    if rng.chance(250) {
        client.route_cache = None;
    }
    config.client = client;
    let mut world = World::new(config, start);
    for (i, name) in journals.iter().enumerate() {
        let spec = JournalSpec::new(name.clone())
            .with_replication(rng.range(1, 3) as i32)
            .with_label("app.gazette.dev/sim", if i == 0 { "a" } else { "b" })
            .with_codec(codec(&mut rng))
            .with_fragment_length(1024)
            .with_store(STORE);
        world.cluster_mut().create_journal(spec);
    }
    world
}

fn content(rng: &mut SimRng, journal: &str, serial: u32) -> Vec<Bytes> {
    let chunks = rng.range(1, 3);
    (0..chunks)
        .map(|c| {
            let len = rng.range(1, 300) as usize;
            let tag = format!("<{journal}#{serial}.{c}>");
            let mut bytes = tag.into_bytes();
            bytes.resize(bytes.len() + len, b'a' + (serial % 26) as u8);
            Bytes::from(bytes)
        })
        .collect()
}

/// Runs the case of `seed` to its end, checking the oracles. `start` is
/// the virtual clock's origin (any instant: the run depends only on
/// durations since it).
pub fn run_case(seed: u64, start: Instant) -> Result<CaseReport, SimError> {
    run(seed, start, false)
}

/// Runs the case of `seed` printing every step to stderr (to replay a
/// failing seed).
pub fn replay(seed: u64, start: Instant) -> Result<CaseReport, SimError> {
    run(seed, start, true)
}

fn run(seed: u64, start: Instant, verbose: bool) -> Result<CaseReport, SimError> {
    let mut world = world(seed, start);
    world.set_verbose(verbose);
    let mut rng = SimRng::new(seed ^ 0x3017_11AD);
    // Sometimes two writers share sim/a: their appends interleave, one
    // transaction at a time.
    let shared = rng.chance(300);
    let names: &[&str] = if shared {
        &["sim/a", "sim/b", "sim/a"]
    } else {
        &["sim/a", "sim/b"]
    };
    let mut writers: Vec<Writer> = names
        .iter()
        .map(|j| Writer {
            journal: j.to_string(),
            remaining: rng.range(2, 8) as u32,
            current: None,
            serial: 0,
        })
        .collect();
    let mut streamed: BTreeMap<OpId, Vec<Bytes>> = BTreeMap::new();
    let do_not_proxy = rng.chance(500);
    let tail = world.read(
        ReadRequest::new("sim/a")
            .blocking(true)
            .do_not_proxy(do_not_proxy),
        true,
    );
    // A second tail from the write head (offset -1), closed at the end.
    let head_tail = rng.chance(300).then(|| {
        let request = ReadRequest::new("sim/b").from_offset(-1).blocking(true);
        world.read(request, true)
    });
    let watch = if rng.chance(500) {
        let selector = LabelSelector::new().include("app.gazette.dev/sim", "a");
        world
            .watch(ListRequest {
                selector: Some(selector),
                ..Default::default()
            })
            .ok()
    } else {
        None
    };
    let extras_at = Duration::from_millis(rng.below(3000));
    let mut extras_done = false;
    let mut ending = false;
    let deadline = start + Duration::from_secs(120);

    for _ in 0..MAX_STEPS {
        // Writers start their next append when the previous finished.
        for (i, w) in writers.iter_mut().enumerate() {
            if w.current.is_some() || w.remaining == 0 {
                continue;
            }
            w.remaining -= 1;
            w.serial += 1;
            let body = content(&mut rng, &w.journal, w.serial + 1000 * i as u32);
            let op = if rng.chance(500) {
                world.append(AppendRequest::new(w.journal.clone()), body)
            } else {
                let op = world.start_append(AppendRequest::new(w.journal.clone()));
                if let Ok(op) = op {
                    streamed.insert(op, body);
                }
                op
            };
            if let Ok(op) = op
                && rng.chance(200)
            {
                let after = Duration::from_millis(rng.range(20, 3000));
                world.set_deadline(op, Some(after));
            }
            w.current = op.ok();
        }
        // Streamed appends write, then commit (or, rarely, abort).
        for (op, chunks) in std::mem::take(&mut streamed) {
            for chunk in chunks {
                if world.write_append(op, chunk).is_err() {
                    break;
                }
            }
            if rng.chance(100) {
                world.abort_append(op);
            } else {
                world.commit_append(op);
            }
        }
        if !extras_done {
            let at = start + extras_at;
            if world.next_wakeup().is_none_or(|w| w > at) {
                world.advance_to(at, MAX_STEPS)?;
            }
            if world.now() >= at {
                extras_done = true;
                extras(&mut world, &mut rng);
            }
        }
        let writing = writers
            .iter()
            .any(|w| w.current.is_some() || w.remaining > 0);
        if !writing && extras_done && !ending {
            // The tail has read everything acknowledged, or time is up.
            let head = world.cluster().journal("sim/a").map_or(0, |j| j.head());
            let caught_up = world.client().read_offset(tail).is_none_or(|o| o >= head);
            if caught_up || world.now() >= deadline {
                ending = true;
                world.cancel(tail);
                if let Some(head_tail) = head_tail {
                    world.close(head_tail);
                }
                if let Some(watch) = watch {
                    world.cancel(watch);
                }
            }
        }
        let stepped = world.step()?;
        while let Some(event) = world.poll_event() {
            if let Event::Finished { op, .. } = event {
                for w in writers.iter_mut() {
                    if w.current == Some(op) {
                        w.current = None;
                    }
                }
            }
            if let Event::ReadStopped { op, .. } = event {
                // The tail goes on; a non-blocking read stopped at the head.
                if op == tail || Some(op) == head_tail {
                    let now = world.now();
                    world.client_mut().resume_read(op, now);
                } else {
                    world.cancel(op);
                }
            }
        }
        if !stepped && ending {
            world.check_final()?;
            return Ok(CaseReport {
                seed,
                steps: world.steps(),
                elapsed: world.elapsed(),
                trace: world.trace_hash(),
                stats: world.oracle().stats().clone(),
                broken_connections: world.net().broken_connections(),
            });
        }
        if !stepped && !writing && extras_done && world.now() < deadline {
            // Idle but the tail is behind (it stopped): move time on.
            let later = world.now() + Duration::from_secs(1);
            world.advance_to(later, MAX_STEPS)?;
        }
    }
    Err(SimError::Livelock {
        seed,
        steps: MAX_STEPS,
    })
}

/// The one-off operations: a non-blocking direct read, lists, an apply,
/// register and offset checked appends, fragment listings, a store probe.
fn extras(world: &mut World, rng: &mut SimRng) {
    let read = ReadRequest::new("sim/b")
        .blocking(false)
        .do_not_proxy(rng.chance(700));
    let read = world.read(read, rng.chance(500));
    if rng.chance(300) {
        world.set_deadline(read, Some(Duration::from_millis(rng.range(1, 100))));
    }
    let selector = LabelSelector::new().include("app.gazette.dev/sim", "b");
    let list = world.list(ListRequest {
        selector: Some(selector),
        ..Default::default()
    });
    if let Ok(list) = list
        && rng.chance(300)
    {
        // Its handle is dropped: it ends silently.
        world.close(list);
    }
    let spec = JournalSpec::new("sim/c")
        .with_fragment_length(1024)
        .with_store(STORE);
    let _ = world.apply(ApplyRequest {
        changes: vec![apply_request::Change::upsert(spec, 0)],
    });
    let owner = LabelSet::new().with("owner", "sim");
    let checked = AppendRequest::new("sim/b")
        .check_registers(LabelSelector::new().include("owner", "sim"))
        .union_registers(owner);
    let _ = world.append(checked, vec![Bytes::from_static(b"<registered>")]);
    let head = world.cluster().journal("sim/a").map_or(0, |j| j.head());
    let at = AppendRequest::new("sim/a").at_offset(head.max(1));
    let _ = world.append(at, vec![Bytes::from_static(b"<at-offset>")]);
    let _ = world.list_fragments(FragmentsRequest {
        journal: "sim/a".into(),
        page_limit: 2,
        signature_ttl: Some(gazette_proto::proto_duration(Duration::from_secs(60))),
        ..Default::default()
    });
    let _ = world.fragment_store_health(STORE);
}
