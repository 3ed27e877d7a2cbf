//! One simulated journal: its spec and revisions, its assignment, every
//! byte ever committed, the fragment index (a growing local spool, then
//! persisted fragments) and its registers.

use gazette_proto::{Fragment, JournalSpec, LabelSelector, LabelSet};

use super::store::SimStore;
use crate::validate::{add_label_value, label_selector_matches};

/// A fragment of the index: a byte range, local to the brokers until it
/// is persisted to the journal's first store.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFragment {
    /// The fragment as a broker describes it.
    pub fragment: Fragment,
    /// The signed URL of its stored file, once persisted.
    pub url: Option<String>,
}

impl IndexFragment {
    /// Whether the fragment is in a store (has a backing store and a
    /// modification time).
    pub fn is_persisted(&self) -> bool {
        self.url.is_some()
    }
}

/// One journal of a [`super::SimCluster`].
#[derive(Debug, Clone)]
pub struct SimJournal {
    /// The spec, as last applied.
    pub spec: JournalSpec,
    /// The Etcd revision that created the spec.
    pub create_revision: i64,
    /// The Etcd revision that last changed the spec.
    pub mod_revision: i64,
    /// Assigned brokers by slot: slot 0 is the primary.
    pub assignment: Vec<usize>,
    /// Every byte ever committed, from offset 0 (the ground truth the
    /// oracles compare reads with). Bytes below [`Self::retained_from`] are
    /// no longer readable.
    pub content: Vec<u8>,
    /// The fragment index, ordered by `begin`.
    pub index: Vec<IndexFragment>,
    /// The journal's registers.
    pub registers: LabelSet,
    /// The RPC holding the journal's append pipeline, if any.
    pub pipeline: Option<crate::client::RpcId>,
}

impl SimJournal {
    /// A new journal of `spec` created at `revision`.
    pub fn new(spec: JournalSpec, revision: i64) -> Self {
        SimJournal {
            spec,
            create_revision: revision,
            mod_revision: revision,
            assignment: Vec::new(),
            content: Vec::new(),
            index: Vec::new(),
            registers: LabelSet::default(),
            pipeline: None,
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The write head: where the next append starts.
    pub fn head(&self) -> i64 {
        self.content.len() as i64
    }

    /// The first offset still readable (after retention removed older
    /// fragments), or the head when nothing is indexed.
    pub fn retained_from(&self) -> i64 {
        self.index.first().map_or(self.head(), |f| f.fragment.begin)
    }

    /// The fragment covering `offset` (with the largest end), if any.
    pub fn covering(&self, offset: i64) -> Option<&IndexFragment> {
        self.index
            .iter()
            .filter(|f| f.fragment.begin <= offset && offset < f.fragment.end)
            .max_by_key(|f| f.fragment.end)
    }

    /// The first fragment starting after `offset` (an offset jump target).
    pub fn next_after(&self, offset: i64) -> Option<&IndexFragment> {
        self.index.iter().find(|f| f.fragment.begin > offset)
    }

    /// Whether the journal's labels plus `name` match `selector`.
    pub fn matches(&self, selector: &LabelSelector) -> bool {
        let mut set = self.spec.labels.clone().unwrap_or_default();
        add_label_value(&mut set, "name", &self.spec.name);
        label_selector_matches(selector, &set)
    }

    fn codec(&self) -> i32 {
        self.spec
            .fragment
            .as_ref()
            .map_or(0, |f| f.compression_codec)
    }

    fn fragment_length(&self) -> i64 {
        self.spec
            .fragment
            .as_ref()
            .map_or(1 << 20, |f| f.length.max(1))
    }

    fn first_store(&self) -> Option<String> {
        self.spec
            .fragment
            .as_ref()
            .and_then(|f| f.stores.first().cloned())
    }

    /// Commits `data`: extends the local spool (starting a new one when
    /// none is open) and returns the committed range.
    pub fn commit(&mut self, data: &[u8]) -> (i64, i64) {
        let begin = self.head();
        self.content.extend_from_slice(data);
        let end = self.head();
        if data.is_empty() {
            return (begin, end);
        }
        let codec = self.codec();
        match self.index.last_mut() {
            Some(last) if !last.is_persisted() && last.fragment.end == begin => {
                last.fragment.end = end;
            }
            _ => self.index.push(IndexFragment {
                fragment: Fragment {
                    journal: self.spec.name.clone(),
                    begin,
                    end,
                    compression_codec: codec,
                    ..Default::default()
                },
                url: None,
            }),
        }
        // The spool's sum covers its content so far.
        let spool = &mut self.index.last_mut().expect("pushed").fragment;
        let bytes = &self.content[spool.begin as usize..spool.end as usize];
        spool.sum = Some(super::sha1::sha1_sum(bytes));
        (begin, end)
    }

    /// Persists the spool when it reached the fragment length (or when
    /// `force`): encodes it with the codec into the first store and marks
    /// it persisted at `mod_time`. Returns whether a fragment was
    /// persisted. Nothing happens without a store or while it is unhealthy.
    pub fn maybe_persist(&mut self, store: &mut SimStore, mod_time: i64, force: bool) -> bool {
        let Some(backing) = self.first_store() else {
            return false;
        };
        let length = self.fragment_length();
        let Some(last) = self.index.last() else {
            return false;
        };
        let size = last.fragment.end - last.fragment.begin;
        if last.is_persisted() || size == 0 || (!force && size < length) {
            return false;
        }
        let mut fragment = last.fragment.clone();
        fragment.backing_store = backing;
        fragment.mod_time = mod_time;
        let bytes = &self.content[fragment.begin as usize..fragment.end as usize];
        match store.persist(&fragment, bytes) {
            Ok(url) => {
                let last = self.index.last_mut().expect("present");
                last.fragment = fragment;
                last.url = Some(url);
                true
            }
            Err(_) => false,
        }
    }

    /// Retention: drops persisted fragments ending at or before `offset`
    /// from the index and the store. Returns how many were dropped.
    pub fn expire_before(&mut self, offset: i64, store: &mut SimStore) -> usize {
        let before = self.index.len();
        self.index.retain(|f| {
            let drop = f.is_persisted() && f.fragment.end <= offset;
            if drop {
                store.remove(&f.fragment);
            }
            !drop
        });
        before - self.index.len()
    }
}
