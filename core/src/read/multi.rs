//! Reading many journals at once, sans IO: [`JournalSet`] follows the
//! snapshots of a watched listing and tells a driver which journals to
//! start reading (and at which offset) and which to stop, and keeps each
//! journal's offset so a reading can be resumed later.

use std::collections::{BTreeMap, BTreeSet};

/// What to do after a new listing snapshot: start readers of `start` at
/// their offsets, stop those of `stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalChanges {
    /// Journals newly listed, each with the offset to read from.
    pub start: Vec<(String, i64)>,
    /// Journals no longer listed (deleted, or no longer matching).
    pub stop: Vec<String>,
}

/// The journals being read and the offset each is read up to.
///
/// Offsets given at creation resume those journals; a journal without
/// one starts at the set's default offset (0, the oldest content, unless
/// [`with_default_offset`](Self::with_default_offset) says otherwise,
/// e.g. −1 for only new content). A journal that leaves the listing loses
/// its offset: if it is created again, it is a new journal, read from
/// the default.
///
/// ```
/// use std::collections::BTreeMap;
/// use gazette_core::read::JournalSet;
///
/// let mut set = JournalSet::new(BTreeMap::from([("a".to_string(), 40)]));
/// let changes = set.update(["a", "b"]);
/// assert_eq!(changes.start, [("a".to_string(), 40), ("b".to_string(), 0)]);
/// set.advance("b", 7);
/// let changes = set.update(["b", "c"]);
/// assert_eq!(changes.stop, ["a"]);
/// assert_eq!(set.offsets(), &BTreeMap::from([("b".to_string(), 7), ("c".to_string(), 0)]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct JournalSet {
    offsets: BTreeMap<String, i64>,
    active: BTreeSet<String>,
    default_offset: i64,
    listed: bool,
}

impl JournalSet {
    /// A set resuming the journals of `offsets` at their offsets.
    pub fn new(offsets: BTreeMap<String, i64>) -> Self {
        JournalSet {
            offsets,
            ..Self::default()
        }
    }

    /// The offset journals without one start at (0 by default; −1 reads
    /// only what is appended after the reader starts).
    pub fn with_default_offset(mut self, offset: i64) -> Self {
        self.default_offset = offset;
        self
    }

    /// Takes the journals of a new listing snapshot: starts those newly
    /// listed, stops those no longer listed (in name order each).
    pub fn update<'a>(&mut self, listed: impl IntoIterator<Item = &'a str>) -> JournalChanges {
        let listed: BTreeSet<String> = listed.into_iter().map(str::to_owned).collect();
        let mut changes = JournalChanges::default();
        for gone in self.active.difference(&listed) {
            changes.stop.push(gone.clone());
        }
        // Offsets of journals no longer (or, at the first snapshot, never)
        // listed are dropped with them.
        self.offsets.retain(|name, _| listed.contains(name));
        for new in listed.difference(&self.active) {
            let offset = *self
                .offsets
                .entry(new.clone())
                .or_insert(self.default_offset);
            changes.start.push((new.clone(), offset));
        }
        self.active = listed;
        self.listed = true;
        changes
    }

    /// Records that `journal` was read up to `offset` (the next offset to
    /// read). Ignored for a journal not being read.
    pub fn advance(&mut self, journal: &str, offset: i64) {
        if let Some(at) = self.offsets.get_mut(journal) {
            *at = offset;
        }
    }

    /// Each journal's offset: where reading it would resume. Before the
    /// first snapshot, the offsets given at creation.
    pub fn offsets(&self) -> &BTreeMap<String, i64> {
        &self.offsets
    }

    /// The journals being read.
    pub fn journals(&self) -> impl Iterator<Item = &str> {
        self.active.iter().map(String::as_str)
    }

    /// Whether a snapshot was taken yet.
    pub fn has_listed(&self) -> bool {
        self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journals_come_and_go_with_their_offsets() {
        let mut set = JournalSet::new(BTreeMap::from([
            ("a".to_string(), 10),
            ("gone".to_string(), 5),
        ]))
        .with_default_offset(-1);
        assert_eq!(set.offsets().len(), 2);
        let first = set.update(["b", "a"]);
        assert_eq!(first.start, [("a".to_string(), 10), ("b".to_string(), -1)]);
        assert!(first.stop.is_empty());
        assert!(!set.offsets().contains_key("gone"));
        set.advance("a", 20);
        set.advance("unknown", 1);
        assert_eq!(set.update(["a", "b"]), JournalChanges::default());
        let second = set.update(["a"]);
        assert_eq!(second.stop, ["b"]);
        // b comes back: a new journal, from the default offset.
        let third = set.update(["a", "b"]);
        assert_eq!(third.start, [("b".to_string(), -1)]);
        assert_eq!(set.offsets()["a"], 20);
        assert_eq!(set.journals().collect::<Vec<_>>(), ["a", "b"]);
    }
}
