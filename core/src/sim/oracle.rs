//! Oracles: what must hold after every step of a simulated run, checked
//! against the cluster's ground truth.
//!
//! * Delivered read content is exactly the journal's bytes at its offsets,
//!   and contiguous unless an offset jump over unreadable content was
//!   reported; read offsets never go backwards.
//! * Every operation ends with exactly one `Finished`, unless closed.
//! * An acknowledged append's bytes are in the journal at its commit
//!   offsets, and it commits after every append acknowledged before it
//!   started (per-journal order).
//! * Content committed more than once, or committed by an append that
//!   failed, is only ever the work of an RPC whose outcome the client could
//!   not know (its response was lost): such duplicates are counted.

use std::collections::{BTreeMap, BTreeSet};

use super::cluster::SimCluster;
use crate::client::{Event, OpId, Outcome, RpcId};
use crate::read::ReadEvent;
use crate::validate::strip_meta;

#[derive(Debug)]
enum Tracked {
    Read {
        journal: String,
        next: Option<i64>,
    },
    Append {
        journal: String,
        content: Vec<u8>,
        /// The end of the last append to this journal acknowledged before
        /// this one started.
        watermark: i64,
    },
    Other,
}

/// Counters of what a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OracleStats {
    /// Appends acknowledged.
    pub appends_acked: u64,
    /// Appends that failed.
    pub appends_failed: u64,
    /// Content bytes delivered to reads.
    pub bytes_read: u64,
    /// Offset jumps reported.
    pub offset_jumps: u64,
    /// Operations finished.
    pub finished: u64,
    /// Commits beyond an operation's acknowledged one (or of a failed
    /// operation) whose response the network lost.
    pub duplicates: u64,
}

/// The oracle state of one run (module docs).
#[derive(Debug, Default)]
pub struct Oracle {
    ops: BTreeMap<OpId, Tracked>,
    finished: BTreeSet<OpId>,
    closed: BTreeSet<OpId>,
    acked: BTreeMap<OpId, (i64, i64)>,
    acked_end: BTreeMap<String, i64>,
    stats: OracleStats,
}

/// An invariant that failed, with what was seen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("oracle: {0}")]
pub struct Violation(pub String);

fn fail<T>(message: String) -> Result<T, Violation> {
    Err(Violation(message))
}

impl Oracle {
    /// Tracks a read of `journal` starting at `offset` (−1: the head).
    pub fn track_read(&mut self, op: OpId, journal: &str, offset: i64) {
        let next = (offset >= 0).then_some(offset);
        let journal = strip_meta(journal).to_string();
        self.ops.insert(op, Tracked::Read { journal, next });
    }

    /// Tracks an append of `content` to `journal`.
    pub fn track_append(&mut self, op: OpId, journal: &str, content: Vec<u8>) {
        let journal = strip_meta(journal).to_string();
        let watermark = self.acked_end.get(&journal).copied().unwrap_or(0);
        self.ops.insert(
            op,
            Tracked::Append {
                journal,
                content,
                watermark,
            },
        );
    }

    /// Adds content written to a tracked streamed append.
    pub fn track_write(&mut self, op: OpId, content: &[u8]) {
        if let Some(Tracked::Append { content: c, .. }) = self.ops.get_mut(&op) {
            c.extend_from_slice(content);
        }
    }

    /// Tracks any other operation (it must finish exactly once).
    pub fn track(&mut self, op: OpId) {
        self.ops.entry(op).or_insert(Tracked::Other);
    }

    /// The operation was closed: it ends silently.
    pub fn closed(&mut self, op: OpId) {
        self.closed.insert(op);
    }

    /// The counters so far.
    pub fn stats(&self) -> &OracleStats {
        &self.stats
    }

    /// Checks one client event against the cluster.
    pub fn observe(&mut self, event: &Event, cluster: &SimCluster) -> Result<(), Violation> {
        match event {
            Event::Read { op, event } => self.observe_read(*op, event, cluster),
            Event::Finished { op, result } => {
                let op = *op;
                if self.closed.contains(&op) {
                    return fail(format!("{op} finished after it was closed"));
                }
                if !self.finished.insert(op) {
                    return fail(format!("{op} finished twice"));
                }
                self.stats.finished += 1;
                let Some(Tracked::Append {
                    journal,
                    content,
                    watermark,
                }) = self.ops.get(&op)
                else {
                    return Ok(());
                };
                let Ok(Outcome::Appended(response)) = result else {
                    self.stats.appends_failed += 1;
                    return Ok(());
                };
                let Some(commit) = &response.commit else {
                    return fail(format!("{op} acknowledged without a commit"));
                };
                let (begin, end) = (commit.begin, commit.end);
                if commit.journal != *journal {
                    return fail(format!(
                        "{op} committed to {} not {journal}",
                        commit.journal
                    ));
                }
                let truth = cluster.journal(journal).map(|j| &j.content[..]);
                let at = truth.and_then(|t| t.get(begin as usize..end as usize));
                if at != Some(&content[..]) {
                    return fail(format!(
                        "{op} acknowledged {begin}..{end} of {journal}, which does not hold its {} bytes",
                        content.len()
                    ));
                }
                if begin < *watermark {
                    return fail(format!(
                        "{op} committed at {begin}, before {watermark}, the end of an append acknowledged before it started"
                    ));
                }
                let journal = journal.clone();
                let high = self.acked_end.entry(journal).or_insert(0);
                *high = (*high).max(end);
                self.acked.insert(op, (begin, end));
                self.stats.appends_acked += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn observe_read(
        &mut self,
        op: OpId,
        event: &ReadEvent,
        cluster: &SimCluster,
    ) -> Result<(), Violation> {
        let Some(Tracked::Read { journal, next }) = self.ops.get_mut(&op) else {
            return Ok(());
        };
        if self.finished.contains(&op) {
            return fail(format!("{op} delivered {event:?} after it finished"));
        }
        let truth = cluster.journal(journal);
        match event {
            ReadEvent::Content { offset, content } => {
                if let Some(expected) = *next
                    && *offset != expected
                {
                    return fail(format!(
                        "{op} content at {offset}, expected {expected} (no jump reported)"
                    ));
                }
                let end = *offset + content.len() as i64;
                let at = truth.and_then(|j| j.content.get(*offset as usize..end as usize));
                if at != Some(&content[..]) {
                    return fail(format!(
                        "{op} read {offset}..{end} of {journal}: bytes differ from the journal"
                    ));
                }
                *next = Some(end);
                self.stats.bytes_read += content.len() as u64;
            }
            ReadEvent::OffsetJump { from, to } => {
                if let Some(expected) = *next
                    && (*from != expected || to < from)
                {
                    return fail(format!(
                        "{op} jump {from}->{to}, but reading was at {expected}"
                    ));
                }
                // A jump skips only content retention removed (or goes to
                // the head of a −1 read).
                let retained = truth.map_or(0, |j| j.retained_from());
                if next.is_some() && *to > retained {
                    return fail(format!(
                        "{op} jumped {from}->{to} over readable content (retained from {retained})"
                    ));
                }
                *next = Some(*to);
                self.stats.offset_jumps += 1;
            }
            ReadEvent::Metadata(metadata) => {
                if let Some(expected) = *next
                    && metadata.offset < expected
                {
                    return fail(format!(
                        "{op} metadata at {} regresses from {expected}",
                        metadata.offset
                    ));
                }
            }
        }
        Ok(())
    }

    /// Operations still unresolved (neither finished nor closed).
    pub fn unresolved(&self) -> Vec<OpId> {
        self.ops
            .keys()
            .filter(|op| !self.finished.contains(op) && !self.closed.contains(op))
            .copied()
            .collect()
    }

    /// The end-of-run checks: every operation resolved, and every commit
    /// either acknowledged to its operation or the work of an RPC whose
    /// outcome was lost (counted as a duplicate).
    pub fn check_final(
        &mut self,
        cluster: &SimCluster,
        unknown_outcomes: &BTreeSet<RpcId>,
    ) -> Result<(), Violation> {
        let unresolved = self.unresolved();
        if !unresolved.is_empty() {
            return fail(format!("operations never resolved: {unresolved:?}"));
        }
        let mut duplicates = 0;
        let mut matched: BTreeSet<OpId> = BTreeSet::new();
        for commit in cluster.commits() {
            if !matches!(self.ops.get(&commit.op), Some(Tracked::Append { .. })) {
                continue;
            }
            let acked = self.acked.get(&commit.op) == Some(&(commit.begin, commit.end));
            if acked && matched.insert(commit.op) {
                continue;
            }
            if !unknown_outcomes.contains(&commit.rpc) {
                return fail(format!(
                    "{} committed {}..{} of {} by {}, but the client was told otherwise",
                    commit.op, commit.begin, commit.end, commit.journal, commit.rpc
                ));
            }
            duplicates += 1;
        }
        for (op, range) in &self.acked {
            if !matched.contains(op) {
                return fail(format!(
                    "{op} acknowledged {range:?} but the cluster has no such commit"
                ));
            }
        }
        self.stats.duplicates = duplicates;
        Ok(())
    }
}
