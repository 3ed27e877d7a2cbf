//! A reference model of the AppendService, shared by the proptest
//! (`core/tests/append_model.rs`) and the `append_service` fuzz target.
//!
//! It drives an [`AppendService`] over a [`MemorySpool`] with arbitrary
//! steps and checks, after each step: per-journal FIFO (a batch is
//! dispatched and resolved only after every earlier batch of its journal),
//! no dispatch before every dependency resolved OK, only compatible appends
//! share a batch (identical request, dependencies implied), a dispatched
//! batch carries exactly the bytes of the appends released into it, in
//! order (rolled-back writes contribute nothing), and no future resolves OK
//! while anything it stands for (its journal's earlier batches, its
//! dependencies, and through a `pending_except` barrier the other chains)
//! failed or is still pending. Liveness: `poll_dispatch` returns `None` only
//! when no batch can progress, and a driver then waiting on the documented
//! wake-ups (a release, an attempt outcome, `next_wakeup`, an external
//! dependency's outcome, a cancel) is woken whenever one can. Outcomes come
//! from `poll_resolved`, drained after every step as a driver does.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use gazette_core::append::*;
use gazette_core::proto::{AppendRequest, AppendResponse, Fragment, Header, LabelSet, Status};

/// Where an append's dependencies come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepChoice {
    /// No dependencies.
    None,
    /// Everything pending on other journals.
    PendingExcept,
    /// One of the harness's external operations.
    External(u8),
}

/// One step of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Start an append on journal `journal % 3`, with request variant
    /// `variant % 2`.
    Start {
        journal: u8,
        variant: u8,
        deps: DepChoice,
    },
    /// Write `len` bytes to the journal's open writer.
    Write { journal: u8, len: u8 },
    /// Roll the journal's open writer back.
    Require { journal: u8 },
    /// Release the journal's open writer.
    Release { journal: u8 },
    /// Poll for a dispatch (and run its content read).
    Poll,
    /// The `pick`-th in-flight attempt succeeds.
    RpcOk { pick: u8 },
    /// The `pick`-th in-flight attempt fails with error kind `kind % 4`.
    RpcFail { pick: u8, kind: u8 },
    /// Time passes.
    Tick { ms: u16 },
    /// Resolve external operation `which % 2`.
    ResolveExternal { which: u8, ok: bool },
    /// Set the spool's write budget (`None`: unlimited).
    SpoolBudget(Option<u8>),
    /// Cancel the service.
    Cancel,
}

impl Step {
    /// Decodes fuzzer bytes into steps (3 bytes per step).
    pub fn decode(data: &[u8]) -> Vec<Step> {
        data.chunks_exact(3)
            .map(|c| {
                let (a, b) = (c[1], c[2]);
                match c[0] % 12 {
                    0 | 1 => Step::Start {
                        journal: a,
                        variant: b & 1,
                        deps: match b >> 1 & 3 {
                            0 | 1 => DepChoice::None,
                            2 => DepChoice::PendingExcept,
                            _ => DepChoice::External(b >> 3),
                        },
                    },
                    2 | 3 => Step::Write { journal: a, len: b },
                    4 => Step::Require { journal: a },
                    5 => Step::Release { journal: a },
                    6 => Step::Poll,
                    7 => Step::RpcOk { pick: a },
                    8 => Step::RpcFail { pick: a, kind: b },
                    9 => Step::Tick {
                        ms: u16::from_le_bytes([a, b]),
                    },
                    10 => Step::ResolveExternal {
                        which: a,
                        ok: b & 1 == 0,
                    },
                    _ if a == 255 && b == 255 => Step::Cancel,
                    _ => Step::SpoolBudget((a & 1 == 1).then_some(b)),
                }
            })
            .collect()
    }
}

const JOURNALS: [&str; 3] = ["model/a", "model/b", "model/c"];

/// Something an append's dependencies stand for: when the append resolves
/// OK, each of its claims must have truly succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A harness external operation.
    External(usize),
    /// A batch (and, through its journal's chain, every batch before it).
    Batch(AppendId),
}

struct Append {
    batch: AppendId,
    deps: Vec<AppendId>,
    claims: Vec<Claim>,
    bytes: Vec<u8>,
    failed: bool,
    required: bool,
    /// Set at release: the append resolves with this batch.
    future: Option<AppendId>,
    logged_resolution: bool,
}

struct BatchRecord {
    journal: usize,
    request: AppendRequest,
    deps: Vec<AppendId>,
    /// What the creating append's dependencies stand for (joiners' are
    /// implied by them).
    claims: Vec<Claim>,
    /// Bytes released into the batch, in order.
    expected: Vec<u8>,
    released: Vec<usize>,
    committed: bool,
    dispatched: bool,
}

/// The harness: the service under test plus the model's expectations.
pub struct Model {
    service: AppendService,
    /// Carries out the service's spool commands.
    spool: MemorySpool,
    now: Instant,
    externals: Vec<AppendId>,
    externals_resolved: Vec<bool>,
    /// Every outcome `poll_resolved` reported.
    results: BTreeMap<AppendId, Result<(), AppendError>>,
    open: Vec<Option<(AppendTicket, usize)>>,
    appends: Vec<Append>,
    batches: HashMap<AppendId, BatchRecord>,
    order: Vec<Vec<AppendId>>,
    in_flight: Vec<Dispatch>,
    /// Set while a driver following the module docs would sleep: the last
    /// poll returned nothing and no wake-up (a release, a finished attempt,
    /// the backoff timer, an external outcome, the cancel) has happened
    /// since.
    asleep: bool,
    /// The last step would have notified the driver's dispatch loop.
    notified: bool,
    /// Human-readable log of what happened, for snapshot tests.
    pub transcript: Vec<String>,
}

fn request(journal: usize, variant: u8) -> AppendRequest {
    AppendRequest {
        journal: JOURNALS[journal].into(),
        offset: if variant == 0 { 0 } else { 7 },
        ..Default::default()
    }
}

fn ok_response(journal: &str) -> AppendResponse {
    AppendResponse {
        status: Status::Ok as i32,
        header: Some(Header::default()),
        commit: Some(Fragment {
            journal: journal.into(),
            ..Default::default()
        }),
        registers: Some(LabelSet::default()),
        ..Default::default()
    }
}

impl Model {
    /// A model over a service with a small front buffer and cutoff, so
    /// spills, rollbacks across the file and batch splits all happen.
    // The model needs an arbitrary base `Instant`; the service never reads
    // the clock.
    #[allow(clippy::disallowed_methods)]
    pub fn new() -> Self {
        let config = AppendConfig {
            batch_cutoff: 40,
            front_buffer: 8,
            ..Default::default()
        };
        let mut service = AppendService::new(config);
        let externals = vec![service.external_dependency(), service.external_dependency()];
        Model {
            service,
            spool: MemorySpool::new(),
            now: Instant::now(),
            externals,
            externals_resolved: vec![false; 2],
            results: BTreeMap::new(),
            open: (0..JOURNALS.len()).map(|_| None).collect(),
            appends: Vec::new(),
            batches: HashMap::new(),
            order: vec![Vec::new(); JOURNALS.len()],
            in_flight: Vec::new(),
            asleep: false,
            notified: false,
            transcript: Vec::new(),
        }
    }

    /// Applies every step, checking the invariants after each.
    pub fn run(&mut self, steps: &[Step]) {
        for step in steps {
            self.step(*step);
            self.drain_resolved();
            self.check_resolution_order();
            self.check_nothing_ok_without_its_prerequisites();
            self.check_no_sleep_while_ready(*step);
            self.log_resolutions();
        }
    }

    /// Applies one step and checks its immediate invariants.
    pub fn step(&mut self, step: Step) {
        self.notified = match step {
            Step::Release { journal } => self.open[journal as usize % 3].is_some(),
            Step::RpcOk { .. } | Step::RpcFail { .. } => !self.in_flight.is_empty(),
            Step::Cancel => true,
            Step::ResolveExternal { which, .. } => !self.externals_resolved[which as usize % 2],
            _ => false,
        };
        match step {
            Step::Start {
                journal,
                variant,
                deps,
            } => self.start(journal as usize % 3, variant % 2, deps),
            Step::Write { journal, len } => self.write(journal as usize % 3, len),
            Step::Require { journal } => {
                if let Some((ticket, id)) = &self.open[journal as usize % 3] {
                    self.service
                        .require(ticket, AppendError::Rejected("rolled back".into()));
                    self.appends[*id].required = true;
                }
            }
            Step::Release { journal } => self.release(journal as usize % 3),
            Step::Poll => self.poll(),
            Step::RpcOk { pick } => self.finish(pick, None),
            Step::RpcFail { pick, kind } => self.finish(pick, Some(kind % 4)),
            Step::Tick { ms } => {
                self.now += Duration::from_millis(ms as u64);
                self.transcript.push(format!("tick {ms}ms"));
            }
            Step::ResolveExternal { which, ok } => {
                let w = which as usize % 2;
                if !self.externals_resolved[w] {
                    self.externals_resolved[w] = true;
                    let result = if ok {
                        Ok(())
                    } else {
                        Err(AppendError::Rejected(format!("external {w} failed")))
                    };
                    self.service.resolve_external(self.externals[w], result);
                    self.transcript
                        .push(format!("external {w} resolved ok={ok}"));
                }
            }
            Step::SpoolBudget(budget) => {
                self.spool.write_budget = budget.map(u64::from);
            }
            Step::Cancel => {
                self.service.cancel();
                self.transcript.push("cancel".into());
            }
        }
        if self.notified {
            self.asleep = false;
        }
    }

    fn start(&mut self, journal: usize, variant: u8, deps: DepChoice) {
        let (deps, claims) = match deps {
            DepChoice::None => (Vec::new(), Vec::new()),
            // Everything ever queued on the other journals: each chain's
            // latest batch stands for the whole chain.
            DepChoice::PendingExcept => (
                self.service.pending_except(JOURNALS[journal]),
                (0..JOURNALS.len())
                    .filter(|&j| j != journal)
                    .filter_map(|j| self.order[j].last().copied().map(Claim::Batch))
                    .collect(),
            ),
            DepChoice::External(w) => {
                let w = w as usize % 2;
                (vec![self.externals[w]], vec![Claim::External(w)])
            }
        };
        let req = request(journal, variant);
        match self.service.start_append(&req, &deps) {
            Err(StartError::WriterActive { .. }) => {
                assert!(
                    self.open[journal].is_some(),
                    "WriterActive without a writer"
                );
            }
            Err(e) => panic!("unexpected start error {e}"),
            Ok(ticket) => {
                assert!(self.open[journal].is_none(), "two writers on one journal");
                let batch = ticket.batch();
                let id = self.appends.len();
                match self.batches.get(&batch) {
                    Some(b) => {
                        assert_eq!(b.journal, journal);
                        assert_eq!(b.request, req, "joined a batch with a different request");
                        assert!(
                            deps.iter().all(|d| b.deps.contains(d)
                                || self.results.get(d) == Some(&Ok(()))),
                            "joined without implied deps"
                        );
                        assert!(!b.dispatched, "joined a dispatched batch");
                        assert!(
                            self.order[journal].last() == Some(&batch),
                            "joined a non-tail batch"
                        );
                    }
                    None => {
                        self.batches.insert(
                            batch,
                            BatchRecord {
                                journal,
                                request: req,
                                deps: deps.clone(),
                                claims: claims.clone(),
                                expected: Vec::new(),
                                released: Vec::new(),
                                committed: false,
                                dispatched: false,
                            },
                        );
                        self.order[journal].push(batch);
                    }
                }
                self.transcript.push(format!(
                    "start #{id} on {} -> batch {} (deps {})",
                    JOURNALS[journal],
                    batch.0,
                    deps.len()
                ));
                self.appends.push(Append {
                    batch,
                    deps,
                    claims,
                    bytes: Vec::new(),
                    failed: false,
                    required: false,
                    future: None,
                    logged_resolution: false,
                });
                self.open[journal] = Some((ticket, id));
            }
        }
    }

    fn write(&mut self, journal: usize, len: u8) {
        let Some((ticket, id)) = &self.open[journal] else {
            return;
        };
        let a = &mut self.appends[*id];
        let data: Vec<u8> = (0..len)
            .map(|i| {
                (*id as u8)
                    .wrapping_mul(31)
                    .wrapping_add(a.bytes.len() as u8)
                    .wrapping_add(i)
            })
            .collect();
        let mut written = self.service.write(ticket, &data);
        while let Some(command) = self.service.poll_spool() {
            if written.is_ok()
                && let Err(err) = self.spool.execute(&command)
            {
                let SpoolCommand::Write { offset, .. } = command else {
                    panic!("only writes fail");
                };
                self.service
                    .handle_spool_failed(ticket, offset, err.clone());
                written = Err(AppendError::Spool(err.to_string()));
            }
        }
        match written {
            Ok(()) => {
                assert!(!a.failed, "write succeeded on a broken writer");
                a.bytes.extend_from_slice(&data);
            }
            Err(_) => a.failed = true,
        }
    }

    fn release(&mut self, journal: usize) {
        let Some((ticket, id)) = self.open[journal].take() else {
            return;
        };
        let result = self.service.release(ticket);
        let a = &mut self.appends[id];
        let batch = self.batches.get_mut(&a.batch).expect("batch recorded");
        match result {
            Ok(future) => {
                assert!(
                    !a.failed && !a.required,
                    "release succeeded despite an error"
                );
                batch.expected.extend_from_slice(&a.bytes);
                batch.released.push(id);
                a.future = Some(future);
                self.transcript
                    .push(format!("release #{id}: {} bytes", a.bytes.len()));
            }
            Err(e) => {
                assert!(
                    a.failed || a.required,
                    "release failed without an error: {e}"
                );
                self.transcript
                    .push(format!("release #{id}: rolled back ({e})"));
            }
        }
    }

    /// Records what `poll_resolved` reports, as a driver would.
    fn drain_resolved(&mut self) {
        while let Some(command) = self.service.poll_spool() {
            self.spool.execute(&command).expect("removals do not fail");
        }
        while let Some(resolution) = self.service.poll_resolved() {
            let previous = self.results.insert(resolution.append, resolution.result);
            assert!(previous.is_none(), "{:?} resolved twice", resolution.append);
        }
    }

    fn poll(&mut self) {
        let dispatched = self.service.poll_dispatch(self.now);
        // What resolved during the poll (e.g. a rolled-back barrier) did
        // so before the dispatch.
        self.drain_resolved();
        let Some(d) = dispatched else {
            self.transcript.push("poll: nothing".into());
            if let Some(j) = self.ready_journal() {
                panic!(
                    "poll_dispatch returned nothing while {} can make progress",
                    JOURNALS[j]
                );
            }
            // The driver now sleeps until one of the documented wake-ups.
            self.asleep = true;
            return;
        };
        self.asleep = false;
        let batch = self
            .batches
            .get_mut(&d.batch)
            .expect("dispatched a known batch");
        batch.dispatched = true;
        let journal = batch.journal;
        // FIFO: every earlier batch of the journal has resolved.
        for earlier in self.order[journal].iter().take_while(|b| **b != d.batch) {
            let e = &self.batches[earlier];
            let done = e
                .released
                .iter()
                .all(|&i| self.results.contains_key(&self.appends[i].future.unwrap()));
            assert!(
                done,
                "batch {:?} dispatched before earlier {earlier:?}",
                d.batch
            );
        }
        let batch = &self.batches[&d.batch];
        assert_eq!(d.request, batch.request);
        assert!(
            !batch.released.is_empty(),
            "dispatched a batch nobody released into"
        );
        for &i in &batch.released {
            for dep in self.appends[i].deps.iter() {
                assert_eq!(
                    self.results.get(dep),
                    Some(&Ok(())),
                    "dispatched before a dependency"
                );
            }
        }
        // Content: exactly the released bytes, in order.
        assert_eq!(d.len, batch.expected.len() as u64);
        let mut content = Vec::new();
        while (content.len() as u64) < d.len {
            let chunk = self
                .service
                .read_content(d.batch, content.len() as u64, 7)
                .and_then(|c| {
                    self.spool
                        .read(&c)
                        .map_err(|e| AppendError::Spool(e.to_string()))
                })
                .expect("memory spool reads");
            assert!(!chunk.is_empty());
            content.extend_from_slice(&chunk);
        }
        assert_eq!(
            content, batch.expected,
            "batch content differs from released bytes"
        );
        self.transcript.push(format!(
            "dispatch batch {} on {} attempt {} ({} bytes, {} appends)",
            d.batch.0,
            JOURNALS[journal],
            d.attempt,
            d.len,
            batch.released.len()
        ));
        self.in_flight.push(d);
    }

    fn finish(&mut self, pick: u8, failure: Option<u8>) {
        if self.in_flight.is_empty() {
            return;
        }
        let d = self.in_flight.remove(pick as usize % self.in_flight.len());
        let journal = self.batches[&d.batch].journal;
        let result = match failure {
            None => Ok(ok_response(JOURNALS[journal])),
            Some(0) => Err(TransportError::Unavailable("down".into()).into()),
            Some(1) => Err(AppendError::Status(
                gazette_core::status::StatusError::Named(Status::NotJournalPrimaryBroker),
            )),
            Some(2) => Err(AppendError::Status(
                gazette_core::status::StatusError::Named(Status::WrongAppendOffset),
            )),
            Some(_) => Err(TransportError::Cancelled.into()),
        };
        self.transcript.push(format!(
            "batch {} attempt {} -> {}",
            d.batch.0,
            d.attempt,
            match &result {
                Ok(_) => "ok".to_string(),
                Err(e) => e.to_string(),
            }
        ));
        let ok = result.is_ok();
        self.service.on_append_finished(d.batch, result, self.now);
        let batch = self.batches.get_mut(&d.batch).unwrap();
        if ok {
            batch.committed = true;
        }
    }

    /// Futures resolve in batch order per journal, and only committed
    /// batches resolve OK.
    fn check_resolution_order(&self) {
        for order in &self.order {
            let mut later_done = false;
            for b in order.iter().rev() {
                let batch = &self.batches[b];
                for &i in &batch.released {
                    let f = self.appends[i].future.unwrap();
                    match self.results.get(&f) {
                        Some(Ok(())) => assert!(batch.committed, "OK without a committed RPC"),
                        Some(Err(_)) => {}
                        None => assert!(!later_done, "a later batch resolved before {b:?}"),
                    }
                    later_done |= self.results.contains_key(&f);
                }
            }
        }
    }

    /// A journal whose head batch the next `poll_dispatch` would advance
    /// (dispatch it, or resolve it without an RPC), judged from the outside.
    fn ready_journal(&self) -> Option<usize> {
        let cancelled = self.service.is_cancelled();
        (0..JOURNALS.len()).find(|&j| {
            let Some(&(head, _)) = self.service.queued(JOURNALS[j]).first() else {
                return false;
            };
            let poisoned = self.service.poison_of(JOURNALS[j]).is_some();
            let writing = self.open[j]
                .as_ref()
                .is_some_and(|(t, _)| t.batch() == head);
            match self
                .service
                .batch_state(head)
                .expect("queued batch has a state")
            {
                BatchState::InFlight { .. } => false,
                BatchState::Open if writing => false,
                BatchState::Open | BatchState::Sealed => {
                    poisoned
                        || cancelled
                        || self.batches[&head]
                            .deps
                            .iter()
                            .all(|d| self.results.contains_key(d))
                }
                BatchState::Backoff { until, .. } => poisoned || cancelled || until <= self.now,
            }
        })
    }

    /// Liveness: a driver sleeping as the module docs describe is woken
    /// whenever some batch becomes ready.
    fn check_no_sleep_while_ready(&mut self, step: Step) {
        if !self.asleep {
            return;
        }
        let woken = self.service.next_wakeup().is_some_and(|t| t <= self.now);
        if woken {
            self.asleep = false;
        } else if let Some(j) = self.ready_journal() {
            panic!(
                "the driver sleeps after {step:?} although {} can make progress",
                JOURNALS[j]
            );
        }
    }

    /// No future resolves OK while anything it stands for failed or is
    /// still pending: its own batch, every earlier batch of that journal
    /// (poison is permanent in this model), and everything its dependencies
    /// stand for, transitively (a `pending_except` barrier stands for the
    /// chains it was taken from, rolled-back tails included).
    fn check_nothing_ok_without_its_prerequisites(&self) {
        let mut memo = HashMap::new();
        for (id, a) in self.appends.iter().enumerate() {
            let Some(f) = &a.future else { continue };
            if self.results.get(f) != Some(&Ok(())) {
                continue;
            }
            assert!(
                self.batch_sound(a.batch, &mut memo),
                "append #{id} resolved OK though its batch {:?} or an earlier one failed",
                a.batch
            );
            for claim in &a.claims {
                assert!(
                    self.claim_sound(*claim, &mut memo),
                    "append #{id} resolved OK though its dependency {claim:?} failed"
                );
            }
        }
    }

    fn claim_sound(&self, claim: Claim, memo: &mut HashMap<AppendId, bool>) -> bool {
        match claim {
            Claim::External(w) => {
                self.externals_resolved[w] && self.results.get(&self.externals[w]) == Some(&Ok(()))
            }
            Claim::Batch(b) => self.batch_sound(b, memo),
        }
    }

    /// True when `batch` truly succeeded: resolved, committed if anything
    /// was released into it, and everything it stands for succeeded.
    fn batch_sound(&self, batch: AppendId, memo: &mut HashMap<AppendId, bool>) -> bool {
        if let Some(&known) = memo.get(&batch) {
            return known;
        }
        let rec = &self.batches[&batch];
        let resolved = self.service.batch_state(batch).is_none();
        let mut sound = resolved && (rec.released.is_empty() || rec.committed);
        if sound {
            let chain = &self.order[rec.journal];
            let pos = chain
                .iter()
                .position(|b| *b == batch)
                .expect("batch in its chain");
            if pos > 0 {
                sound = self.batch_sound(chain[pos - 1], memo);
            }
        }
        if sound {
            sound = rec.claims.iter().all(|c| self.claim_sound(*c, memo));
        }
        memo.insert(batch, sound);
        sound
    }

    fn log_resolutions(&mut self) {
        for (id, a) in self.appends.iter_mut().enumerate() {
            let Some(f) = &a.future else { continue };
            if a.logged_resolution {
                continue;
            }
            if let Some(result) = self.results.get(f) {
                a.logged_resolution = true;
                self.transcript.push(match result {
                    Ok(()) => format!("append #{id} committed"),
                    Err(e) => format!("append #{id} failed: {e}"),
                });
            }
        }
    }

    /// The service under test.
    pub fn service(&self) -> &AppendService {
        &self.service
    }
}
