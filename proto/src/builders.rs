//! Constructors and builder methods for the messages users write by hand.
//!
//! Every message stays a plain prost struct (all fields public), so a
//! builder never hides a field; the methods here only spare users nested
//! `Option`s, `as i32` enum casts and `prost_types::Duration` literals:
//!
//! See the crate documentation for an example.
//!
//!
//! Builders do not validate: the client checks every request before it
//! sends it, and reports what is wrong as a typed error.
//!
//! Go's client has no such helpers; its users write struct literals
//! (docs/go-differences.md#d43).

use std::time::Duration;

use crate::protocol::{
    AppendRequest, ApplyRequest, CompressionCodec, FragmentsRequest, JournalSpec, Label,
    LabelSelector, LabelSet, ListRequest, ReadRequest, append_request, apply_request, journal_spec,
};

/// A `google.protobuf.Duration` of `d`, saturating at the largest value the
/// message can hold.
pub fn proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).unwrap_or(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 999_999_999,
    })
}

/// The `std::time::Duration` of a `google.protobuf.Duration`, or `None` if it
/// is negative or not normalised.
pub fn std_duration(d: &prost_types::Duration) -> Option<Duration> {
    Duration::try_from(*d).ok()
}

impl Label {
    /// A `name=value` label.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
            prefix: false,
        }
    }

    /// A prefix label `name:prefix=value` (matches values starting with
    /// `value`; only meaningful inside a [`LabelSelector`]).
    pub fn prefix(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            prefix: true,
            ..Label::new(name, value)
        }
    }
}

impl LabelSet {
    /// An empty label set.
    pub fn new() -> Self {
        LabelSet::default()
    }

    /// Adds `label`, keeping the set sorted by name, then value, and unique
    /// (adding a label that is already present changes nothing). Go-style
    /// reads and edits (`value_of`, `values_of`, `set_value`, `remove`, and
    /// `name:prefix` names) are `gazette_core::validate::LabelSetExt`.
    pub fn add(&mut self, label: Label) {
        match self
            .labels
            .binary_search_by(|l| (&l.name, &l.value).cmp(&(&label.name, &label.value)))
        {
            Ok(at) => self.labels[at].prefix |= label.prefix,
            Err(at) => self.labels.insert(at, label),
        }
    }

    /// Returns the set with `name=value` added (see [`LabelSet::add`]).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add(Label::new(name, value));
        self
    }
}

impl FromIterator<Label> for LabelSet {
    fn from_iter<I: IntoIterator<Item = Label>>(iter: I) -> Self {
        let mut set = LabelSet::new();
        for label in iter {
            set.add(label);
        }
        set
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for LabelSet {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        iter.into_iter()
            .map(|(name, value)| Label::new(name, value))
            .collect()
    }
}

impl LabelSelector {
    /// A selector that matches every label set.
    pub fn new() -> Self {
        LabelSelector::default()
    }

    /// Also requires `name=value` (values of one name are alternatives).
    pub fn include(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.include
            .get_or_insert_with(LabelSet::new)
            .add(Label::new(name, value));
        self
    }

    /// Also requires a value of `name` starting with `prefix`.
    pub fn include_prefix(mut self, name: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.include
            .get_or_insert_with(LabelSet::new)
            .add(Label::prefix(name, prefix));
        self
    }

    /// Also excludes label sets having `name=value`.
    pub fn exclude(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.exclude
            .get_or_insert_with(LabelSet::new)
            .add(Label::new(name, value));
        self
    }

    /// Also excludes label sets having a value of `name` starting with
    /// `prefix`.
    pub fn exclude_prefix(mut self, name: impl Into<String>, prefix: impl Into<String>) -> Self {
        self.exclude
            .get_or_insert_with(LabelSet::new)
            .add(Label::prefix(name, prefix));
        self
    }

    /// Selects the single journal `name` (the `name` meta-label the broker
    /// gives every journal).
    pub fn journal(name: impl Into<String>) -> Self {
        LabelSelector::new().include("name", name)
    }

    /// Selects every journal whose name starts with `prefix` (which should
    /// end in `/`).
    pub fn journal_prefix(prefix: impl Into<String>) -> Self {
        LabelSelector::new().include_prefix("name", prefix)
    }
}

impl JournalSpec {
    /// A spec of journal `name` with replication 1, no labels and a
    /// fragment configuration holding the broker's usual defaults:
    /// 512 MiB fragments, SNAPPY, refreshed every 5 minutes.
    pub fn new(name: impl Into<String>) -> Self {
        JournalSpec {
            name: name.into(),
            replication: 1,
            fragment: Some(journal_spec::Fragment {
                length: 1 << 29,
                compression_codec: CompressionCodec::Snappy as i32,
                refresh_interval: Some(proto_duration(Duration::from_secs(300))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn fragment_mut(&mut self) -> &mut journal_spec::Fragment {
        self.fragment.get_or_insert_with(Default::default)
    }

    /// Sets the number of brokers that replicate the journal.
    pub fn with_replication(mut self, replication: i32) -> Self {
        self.replication = replication;
        self
    }

    /// Adds the label `name=value`.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels
            .get_or_insert_with(LabelSet::new)
            .add(Label::new(name, value));
        self
    }

    /// Replaces the labels.
    pub fn with_labels(mut self, labels: impl Into<LabelSet>) -> Self {
        self.labels = Some(labels.into());
        self
    }

    /// Sets the codec new fragments are stored with.
    pub fn with_codec(mut self, codec: CompressionCodec) -> Self {
        self.fragment_mut().compression_codec = codec as i32;
        self
    }

    /// Sets the length (in content bytes) at which fragments are closed.
    pub fn with_fragment_length(mut self, length: i64) -> Self {
        self.fragment_mut().length = length;
        self
    }

    /// Adds a fragment store (e.g. `s3://bucket/prefix/`, `file:///root/`);
    /// the first one is where new fragments are written.
    pub fn with_store(mut self, store: impl Into<String>) -> Self {
        self.fragment_mut().stores.push(store.into());
        self
    }

    /// Replaces the fragment stores.
    pub fn with_stores<S: Into<String>>(mut self, stores: impl IntoIterator<Item = S>) -> Self {
        self.fragment_mut().stores = stores.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how often brokers list the stores for fragments.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.fragment_mut().refresh_interval = Some(proto_duration(interval));
        self
    }

    /// Sets how long fragments are kept (zero keeps them for ever).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.fragment_mut().retention = Some(proto_duration(retention));
        self
    }

    /// Sets the interval at which an open fragment is closed and persisted,
    /// whatever its length.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.fragment_mut().flush_interval = Some(proto_duration(interval));
        self
    }

    /// Sets the template of a path segment between the journal name and the
    /// fragment file name (Go `text/template`, e.g. `date={{.Spool.FirstAppendTime.Format "2006-01-02"}}`).
    pub fn with_path_postfix_template(mut self, template: impl Into<String>) -> Self {
        self.fragment_mut().path_postfix_template = template.into();
        self
    }

    /// Sets the access mode flags (`O_RDONLY`, `O_WRONLY`, `O_RDWR`).
    pub fn with_flags(mut self, flags: journal_spec::Flag) -> Self {
        self.flags = flags as u32;
        self
    }

    /// Sets the maximum rate of appended bytes per second (zero: unlimited).
    pub fn with_max_append_rate(mut self, bytes_per_second: i64) -> Self {
        self.max_append_rate = bytes_per_second;
        self
    }

    /// Sets the suspension state (normally managed by brokers; see
    /// [`append_request::Suspend`] for how an append changes it).
    pub fn with_suspend(mut self, level: journal_spec::suspend::Level, offset: i64) -> Self {
        self.suspend = Some(journal_spec::Suspend {
            level: level as i32,
            offset,
        });
        self
    }

    /// The codec of new fragments (`INVALID` when unset or unknown).
    pub fn codec(&self) -> CompressionCodec {
        self.fragment
            .as_ref()
            .and_then(|f| CompressionCodec::try_from(f.compression_codec).ok())
            .unwrap_or(CompressionCodec::Invalid)
    }

    /// The store refresh interval, if set.
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.fragment
            .as_ref()?
            .refresh_interval
            .as_ref()
            .and_then(std_duration)
    }

    /// The fragment retention, if set.
    pub fn retention(&self) -> Option<Duration> {
        self.fragment
            .as_ref()?
            .retention
            .as_ref()
            .and_then(std_duration)
    }

    /// The fragment flush interval, if set.
    pub fn flush_interval(&self) -> Option<Duration> {
        self.fragment
            .as_ref()?
            .flush_interval
            .as_ref()
            .and_then(std_duration)
    }
}

impl ReadRequest {
    /// A read of `journal` from offset 0, blocking for new content.
    pub fn new(journal: impl Into<String>) -> Self {
        ReadRequest {
            journal: journal.into(),
            block: true,
            ..Default::default()
        }
    }

    /// Starts at `offset`; `-1` starts at the write head (only new content).
    pub fn from_offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    /// Ends (cleanly) at `end_offset`, exclusive; 0 reads without end.
    pub fn until(mut self, end_offset: i64) -> Self {
        self.end_offset = end_offset;
        self
    }

    /// Whether to wait for content not yet written (`true`) or to end with
    /// OFFSET_NOT_YET_AVAILABLE at the write head (`false`).
    pub fn blocking(mut self, block: bool) -> Self {
        self.block = block;
        self
    }

    /// Asks the broker not to proxy to another broker (it answers with the
    /// route instead).
    pub fn do_not_proxy(mut self, do_not_proxy: bool) -> Self {
        self.do_not_proxy = do_not_proxy;
        self
    }

    /// Asks only for metadata: the fragment and its URL, no content.
    pub fn metadata_only(mut self, metadata_only: bool) -> Self {
        self.metadata_only = metadata_only;
        self
    }

    /// Skips fragments persisted before `unix_seconds` (modification time).
    pub fn begin_mod_time(mut self, unix_seconds: i64) -> Self {
        self.begin_mod_time = unix_seconds;
        self
    }
}

impl AppendRequest {
    /// An append to `journal`.
    pub fn new(journal: impl Into<String>) -> Self {
        AppendRequest {
            journal: journal.into(),
            ..Default::default()
        }
    }

    /// Commits only if the journal's registers match `selector`.
    pub fn check_registers(mut self, selector: LabelSelector) -> Self {
        self.check_registers = Some(selector);
        self
    }

    /// Adds `registers` to the journal's registers when the append commits.
    pub fn union_registers(mut self, registers: impl Into<LabelSet>) -> Self {
        self.union_registers = Some(registers.into());
        self
    }

    /// Removes `registers` from the journal's registers when the append
    /// commits.
    pub fn subtract_registers(mut self, registers: impl Into<LabelSet>) -> Self {
        self.subtract_registers = Some(registers.into());
        self
    }

    /// Commits only at this exact journal offset (WRONG_APPEND_OFFSET
    /// otherwise); 0 appends at the write head.
    pub fn at_offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    /// How the append treats a suspended journal.
    pub fn with_suspend(mut self, suspend: append_request::Suspend) -> Self {
        self.suspend = suspend as i32;
        self
    }
}

impl apply_request::Change {
    /// Creates or updates `spec`; `expect_mod_revision` is 0 to create, the
    /// journal's current revision to update it, or -1 for either.
    pub fn upsert(spec: JournalSpec, expect_mod_revision: i64) -> Self {
        apply_request::Change {
            expect_mod_revision,
            upsert: Some(spec),
            delete: String::new(),
        }
    }

    /// Deletes journal `name` at `expect_mod_revision` (-1: any revision).
    pub fn delete(name: impl Into<String>, expect_mod_revision: i64) -> Self {
        apply_request::Change {
            expect_mod_revision,
            upsert: None,
            delete: name.into(),
        }
    }
}

impl ApplyRequest {
    /// An Apply of `changes`, applied atomically.
    pub fn new(changes: impl IntoIterator<Item = apply_request::Change>) -> Self {
        ApplyRequest {
            changes: changes.into_iter().collect(),
        }
    }

    /// An Apply creating or updating the given specs whatever their
    /// revision (`expect_mod_revision` -1).
    pub fn upsert_all(specs: impl IntoIterator<Item = JournalSpec>) -> Self {
        ApplyRequest::new(
            specs
                .into_iter()
                .map(|spec| apply_request::Change::upsert(spec, -1)),
        )
    }
}

impl ListRequest {
    /// A one-shot listing of the journals `selector` matches.
    pub fn new(selector: LabelSelector) -> Self {
        ListRequest {
            selector: Some(selector),
            ..Default::default()
        }
    }

    /// A listing that stays open and sends a new snapshot whenever the
    /// matching journals change.
    pub fn watching(mut self) -> Self {
        self.watch = true;
        self
    }
}

impl FragmentsRequest {
    /// A listing of the fragments of `journal`.
    pub fn new(journal: impl Into<String>) -> Self {
        FragmentsRequest {
            journal: journal.into(),
            ..Default::default()
        }
    }

    /// Only fragments persisted in `[begin, end)` (Unix seconds; 0 leaves a
    /// side open).
    pub fn mod_time_range(mut self, begin: i64, end: i64) -> Self {
        self.begin_mod_time = begin;
        self.end_mod_time = end;
        self
    }

    /// Asks for signed fragment URLs valid for `ttl`.
    pub fn signed_for(mut self, ttl: Duration) -> Self {
        self.signature_ttl = Some(proto_duration(ttl));
        self
    }

    /// At most `limit` fragments per page.
    pub fn page_limit(mut self, limit: i32) -> Self {
        self.page_limit = limit;
        self
    }
}
