//! How the simulated brokers answer each RPC: Read streams (metadata and
//! content frames, blocking at the head, offset jumps, fragment URLs),
//! Append transactions (pipeline, preconditions, registers, commit), List
//! snapshots and watches, Apply, ListFragments pages and store health.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, FragmentStoreHealthRequest,
    FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse, Header, Label, LabelSelector,
    LabelSet, ListRequest, ListResponse, ReadRequest, ReadResponse, Status, fragments_response,
    list_response,
};

use super::cluster::{CommitRecord, Reply, Resolved, SimCluster, empty_route};
use super::journal::SimJournal;
use crate::client::{Call, OpId, RpcEnd, RpcId, RpcMessage};
use crate::status::RpcCode;
use crate::validate::{label_selector_matches, strip_meta};

/// Journals per List message (the broker's page).
const LIST_PAGE: usize = 25;

#[derive(Debug)]
enum AppendInput {
    Message(Box<AppendRequest>),
    HalfClose,
}

#[derive(Debug)]
enum AppendPhase {
    /// Waiting for the preamble.
    Preamble,
    /// Resolving, waiting for the pipeline or a healthy store.
    Preconditions,
    /// Reading chunks; `marker` once the empty commit chunk arrived.
    Accepting { marker: bool },
}

#[derive(Debug)]
struct AppendState {
    preamble: Option<AppendRequest>,
    inbox: VecDeque<AppendInput>,
    phase: AppendPhase,
    content: Vec<u8>,
    chunks: i64,
    store_hold: Option<Instant>,
}

#[derive(Debug)]
struct ReadState {
    request: ReadRequest,
    offset: i64,
    sent_header: bool,
}

#[derive(Debug)]
struct ListState {
    request: ListRequest,
    last: Option<(usize, i64)>,
    resume_revision: Option<i64>,
}

#[derive(Debug)]
enum Kind {
    Read(ReadState),
    Append(Box<AppendState>),
    List(ListState),
    Apply(ApplyRequest),
    Fragments(FragmentsRequest),
    Health(FragmentStoreHealthRequest),
}

/// One RPC a broker is serving.
#[derive(Debug)]
pub(crate) struct Session {
    op: OpId,
    /// The broker the RPC reached.
    pub(crate) broker: usize,
    /// The broker serving it (the receiving one, or a proxied peer).
    pub(crate) serving: Option<usize>,
    opened: bool,
    kind: Kind,
}

/// What advancing a session did.
enum Step {
    /// Nothing changed.
    Idle,
    /// Something was sent; it may advance further.
    Progress,
    /// The session ended.
    Done,
}

impl Session {
    pub(crate) fn new(op: OpId, broker: usize, call: Call) -> Self {
        let kind = match call {
            Call::Read(request) => Kind::Read(ReadState {
                offset: request.offset,
                request,
                sent_header: false,
            }),
            Call::Append { .. } => Kind::Append(Box::new(AppendState {
                preamble: None,
                inbox: VecDeque::new(),
                phase: AppendPhase::Preamble,
                content: Vec::new(),
                chunks: 0,
                store_hold: None,
            })),
            Call::List(request) => Kind::List(ListState {
                resume_revision: request
                    .watch_resume
                    .as_ref()
                    .and_then(|h| h.etcd.as_ref())
                    .map(|e| e.revision),
                request,
                last: None,
            }),
            Call::Apply(request) => Kind::Apply(request),
            Call::ListFragments(request) => Kind::Fragments(request),
            Call::FragmentStoreHealth(request) => Kind::Health(request),
            // A call this model does not know: answered UNIMPLEMENTED.
            #[allow(unreachable_patterns)]
            _ => Kind::Health(FragmentStoreHealthRequest::default()),
        };
        Session {
            op,
            broker,
            serving: None,
            opened: false,
            kind,
        }
    }

    pub(crate) fn push_message(&mut self, message: AppendRequest) {
        if let Kind::Append(a) = &mut self.kind {
            a.inbox.push_back(AppendInput::Message(Box::new(message)));
        }
    }

    pub(crate) fn push_half_close(&mut self) {
        if let Kind::Append(a) = &mut self.kind {
            a.inbox.push_back(AppendInput::HalfClose);
        }
    }

    pub(crate) fn wake_at(&self) -> Option<Instant> {
        match &self.kind {
            Kind::Append(a) => a.store_hold,
            _ => None,
        }
    }
}

impl SimCluster {
    /// Advances every session as far as it goes, until none moves.
    pub(crate) fn pump(&mut self) {
        for _round in 0..64 {
            let mut moved = false;
            let rpcs: Vec<RpcId> = self.sessions.keys().copied().collect();
            for rpc in rpcs {
                for _ in 0..1024 {
                    match self.advance(rpc) {
                        Step::Idle => break,
                        Step::Done => {
                            moved = true;
                            break;
                        }
                        Step::Progress => moved = true,
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, rpc: RpcId) -> Step {
        let Some(session) = self.sessions.get(&rpc) else {
            return Step::Idle;
        };
        if self.is_frozen(session.broker) {
            return Step::Idle;
        }
        let streaming = matches!(session.kind, Kind::Read(_) | Kind::List(_));
        if streaming && !session.opened {
            self.sessions.get_mut(&rpc).expect("present").opened = true;
            self.outbox.push_back(Reply::Opened(rpc));
            return Step::Progress;
        }
        match &session.kind {
            Kind::Read(_) => self.advance_read(rpc),
            Kind::Append(_) => self.advance_append(rpc),
            Kind::List(_) => self.advance_list(rpc),
            Kind::Apply(_) => self.answer_apply(rpc),
            Kind::Fragments(_) => self.answer_fragments(rpc),
            Kind::Health(_) => self.answer_health(rpc),
        }
    }

    fn send(&mut self, rpc: RpcId, message: RpcMessage) {
        self.outbox.push_back(Reply::Message(rpc, message));
    }

    fn finish(&mut self, rpc: RpcId, end: RpcEnd) -> Step {
        self.end_session(rpc, end);
        Step::Done
    }

    fn session(&mut self, rpc: RpcId) -> &mut Session {
        self.sessions.get_mut(&rpc).expect("session present")
    }

    // ---- Read ---------------------------------------------------------------

    fn read_state(&mut self, rpc: RpcId) -> &mut ReadState {
        match &mut self.session(rpc).kind {
            Kind::Read(r) => r,
            _ => unreachable!("a read session"),
        }
    }

    fn advance_read(&mut self, rpc: RpcId) -> Step {
        let session = &self.sessions[&rpc];
        let Kind::Read(state) = &session.kind else {
            unreachable!()
        };
        let request = state.request.clone();
        let first = !state.sent_header;
        let start_offset = state.offset;
        let previous = session.serving;
        let header = match self.resolve(
            session.broker,
            &request.journal,
            false,
            request.do_not_proxy,
            request.min_etcd_revision,
        ) {
            Resolved::Wait => return Step::Idle,
            Resolved::Fail(end) => return self.finish(rpc, end),
            Resolved::Status(status, header) => {
                let frame = ReadResponse {
                    status: status as i32,
                    header: first.then_some(header),
                    ..Default::default()
                };
                self.send(rpc, RpcMessage::Read(frame));
                return self.finish(rpc, RpcEnd::Ok);
            }
            Resolved::Serve { serving, header } => {
                if previous.is_some_and(|p| p != serving) {
                    // The replica it streamed from went away: a clean end.
                    return self.finish(rpc, RpcEnd::Ok);
                }
                self.session(rpc).serving = Some(serving);
                header
            }
        };
        let journal = &self.journals[strip_meta(&request.journal)];
        let head = journal.head();
        let mut offset = start_offset;
        if offset < 0 {
            offset = head;
        }
        let fragment = loop {
            match journal.covering(offset) {
                Some(f) => break Some(f.clone()),
                None => match journal.next_after(offset) {
                    // Deleted content or a hole: skip to the next fragment.
                    Some(next) if offset < head => offset = next.fragment.begin,
                    _ => break None,
                },
            }
        };
        let header = first.then_some(header);
        let Some(fragment) = fragment else {
            if request.block {
                if offset != start_offset {
                    self.read_state(rpc).offset = offset;
                }
                return Step::Idle;
            }
            let frame = ReadResponse {
                status: Status::OffsetNotYetAvailable as i32,
                header,
                offset,
                write_head: head,
                ..Default::default()
            };
            self.send(rpc, RpcMessage::Read(frame));
            return self.finish(rpc, RpcEnd::Ok);
        };
        let end_offset = request.end_offset;
        let frame = ReadResponse {
            status: Status::Ok as i32,
            header,
            offset,
            write_head: head,
            fragment: Some(fragment.fragment.clone()),
            fragment_url: fragment.url.clone().map(signed).unwrap_or_default(),
            ..Default::default()
        };
        {
            let state = self.read_state(rpc);
            state.sent_header = true;
            state.offset = offset;
        }
        self.send(rpc, RpcMessage::Read(frame));
        if (end_offset > 0 && offset >= end_offset)
            || request.metadata_only
            || (fragment.is_persisted() && request.do_not_proxy)
        {
            return self.finish(rpc, RpcEnd::Ok);
        }
        let mut stop = fragment.fragment.end;
        if end_offset > 0 {
            stop = stop.min(end_offset);
        }
        let chunk = self.config.read_chunk.max(1) as i64;
        let content = &self.journals[strip_meta(&request.journal)].content;
        let mut frames = Vec::new();
        let mut at = offset;
        while at < stop {
            let to = (at + chunk).min(stop);
            frames.push(ReadResponse {
                offset: at,
                content: Bytes::copy_from_slice(&content[at as usize..to as usize]),
                ..Default::default()
            });
            at = to;
        }
        for frame in frames {
            self.send(rpc, RpcMessage::Read(frame));
        }
        self.read_state(rpc).offset = stop;
        if end_offset > 0 && stop >= end_offset {
            return self.finish(rpc, RpcEnd::Ok);
        }
        if self.config.buggify && self.rng.chance(30) {
            // Buggify: the stream closes cleanly, as on a reassignment.
            return self.finish(rpc, RpcEnd::Ok);
        }
        Step::Progress
    }

    // ---- Append -------------------------------------------------------------

    fn append_state(&mut self, rpc: RpcId) -> &mut AppendState {
        match &mut self.session(rpc).kind {
            Kind::Append(a) => a,
            _ => unreachable!("an append session"),
        }
    }

    fn answer_append(&mut self, rpc: RpcId, response: AppendResponse) -> Step {
        self.release_pipeline(rpc);
        self.send(rpc, RpcMessage::Append(response));
        self.finish(rpc, RpcEnd::Ok)
    }

    fn release_pipeline(&mut self, rpc: RpcId) {
        for journal in self.journals.values_mut() {
            if journal.pipeline == Some(rpc) {
                journal.pipeline = None;
            }
        }
    }

    fn fail_append(&mut self, rpc: RpcId, message: &str) -> Step {
        self.release_pipeline(rpc);
        self.finish(rpc, RpcEnd::status(RpcCode::Unknown, message))
    }

    fn advance_append(&mut self, rpc: RpcId) -> Step {
        let now = self.now;
        let phase_is_preamble = matches!(self.append_state(rpc).phase, AppendPhase::Preamble);
        if phase_is_preamble {
            let state = self.append_state(rpc);
            match state.inbox.pop_front() {
                None => return Step::Idle,
                Some(AppendInput::HalfClose) => {
                    return self.fail_append(rpc, "append stream: unexpected EOF");
                }
                Some(AppendInput::Message(preamble)) => {
                    state.preamble = Some(*preamble);
                    state.phase = AppendPhase::Preconditions;
                    return Step::Progress;
                }
            }
        }
        if matches!(self.append_state(rpc).phase, AppendPhase::Preconditions) {
            return self.append_preconditions(rpc, now);
        }
        let broker = self.sessions[&rpc].broker;
        let state = self.append_state(rpc);
        let AppendPhase::Accepting { marker } = state.phase else {
            unreachable!()
        };
        match state.inbox.pop_front() {
            None => Step::Idle,
            Some(AppendInput::Message(_)) if marker => {
                self.fail_append(rpc, "append stream: expected EOF after empty Content chunk")
            }
            Some(AppendInput::Message(chunk)) => {
                state.chunks += 1;
                if chunk.content.is_empty() {
                    state.phase = AppendPhase::Accepting { marker: true };
                } else {
                    state.content.extend_from_slice(&chunk.content);
                }
                Step::Progress
            }
            Some(AppendInput::HalfClose) if !marker => {
                self.fail_append(rpc, "append stream: unexpected EOF")
            }
            Some(AppendInput::HalfClose) => self.commit_append(rpc, broker),
        }
    }

    fn append_preconditions(&mut self, rpc: RpcId, now: Instant) -> Step {
        let session = &self.sessions[&rpc];
        let broker = session.broker;
        let Kind::Append(state) = &session.kind else {
            unreachable!()
        };
        let preamble = state.preamble.clone().expect("preamble read");
        let held = state.store_hold;
        let header = match self.resolve(
            broker,
            &preamble.journal,
            true,
            preamble.do_not_proxy,
            preamble.min_etcd_revision,
        ) {
            Resolved::Wait => return Step::Idle,
            Resolved::Fail(end) => {
                self.release_pipeline(rpc);
                return self.finish(rpc, end);
            }
            Resolved::Status(status, header) => {
                return self.answer_append(rpc, status_response(status, header));
            }
            Resolved::Serve { serving, header } => {
                self.session(rpc).serving = Some(serving);
                header
            }
        };
        let name = strip_meta(&preamble.journal).to_string();
        let journal = &self.journals[&name];
        if (journal.assignment.len() as i32) < journal.spec.replication {
            return self.answer_append(
                rpc,
                status_response(Status::InsufficientJournalBrokers, header),
            );
        }
        if journal.pipeline.is_some_and(|p| p != rpc) {
            return Step::Idle;
        }
        let first_store = journal
            .spec
            .fragment
            .as_ref()
            .and_then(|f| f.stores.first().cloned());
        self.journals.get_mut(&name).expect("present").pipeline = Some(rpc);
        if let Some(store) = first_store
            && let Some(error) = self.store.health_error(&store)
        {
            match held {
                Some(until) if until <= now => {
                    let mut response = status_response(Status::FragmentStoreUnhealthy, header);
                    response.store_health_error = error;
                    return self.answer_append(rpc, response);
                }
                Some(_) => return Step::Idle,
                None => {
                    let until = now + self.config.store_unhealthy_hold;
                    self.append_state(rpc).store_hold = Some(until);
                    return Step::Idle;
                }
            }
        }
        self.append_state(rpc).store_hold = None;
        let journal = &self.journals[&name];
        if let Some(check) = &preamble.check_registers
            && !journal.registers.labels.is_empty()
            && !label_selector_matches(check, &journal.registers)
        {
            let mut response = status_response(Status::RegisterMismatch, header);
            response.registers = Some(journal.registers.clone());
            return self.answer_append(rpc, response);
        }
        if preamble.offset != 0 && preamble.offset != journal.head() {
            return self.answer_append(rpc, status_response(Status::WrongAppendOffset, header));
        }
        self.append_state(rpc).phase = AppendPhase::Accepting { marker: false };
        Step::Progress
    }

    fn commit_append(&mut self, rpc: RpcId, broker: usize) -> Step {
        let op = self.sessions[&rpc].op;
        let state = self.append_state(rpc);
        let preamble = state.preamble.clone().expect("preamble read");
        let content = std::mem::take(&mut state.content);
        let chunks = state.chunks;
        let modifies = preamble.union_registers.is_some() || preamble.subtract_registers.is_some();
        if content.is_empty() && modifies {
            return self.fail_append(
                rpc,
                "append stream: register modification requires non-empty Append",
            );
        }
        let name = strip_meta(&preamble.journal).to_string();
        let serving = self.sessions[&rpc].serving.unwrap_or(broker);
        let header = self.header(serving, self.route_of(&name));
        let mod_time = self.unix_now();
        let buggify_flush = self.config.buggify && self.rng.chance(100);
        let journal = self.journals.get_mut(&name).expect("resolved");
        let (begin, end) = journal.commit(&content);
        if let Some(subtract) = &preamble.subtract_registers {
            subtract_registers(&mut journal.registers, subtract);
        }
        if let Some(union) = &preamble.union_registers {
            union_registers(&mut journal.registers, union);
        }
        journal.maybe_persist(&mut self.store, mod_time, buggify_flush);
        let commit = gazette_proto::Fragment {
            journal: name.clone(),
            begin,
            end,
            sum: Some(super::sha1::sha1_sum(&content)),
            compression_codec: codec_of(journal),
            ..Default::default()
        };
        let response = AppendResponse {
            status: Status::Ok as i32,
            header: Some(header),
            commit: Some(commit),
            registers: Some(journal.registers.clone()),
            total_chunks: chunks,
            ..Default::default()
        };
        self.commits.push(CommitRecord {
            journal: name,
            begin,
            end,
            rpc,
            op,
        });
        self.answer_append(rpc, response)
    }

    // ---- List ---------------------------------------------------------------

    fn advance_list(&mut self, rpc: RpcId) -> Step {
        let session = &self.sessions[&rpc];
        let broker = session.broker;
        let Kind::List(state) = &session.kind else {
            unreachable!()
        };
        if state.resume_revision.is_some_and(|r| self.revision <= r) {
            return Step::Idle;
        }
        let selector = list_selector(state.request.selector.clone().unwrap_or_default());
        let matching: Vec<&SimJournal> = self
            .journals
            .values()
            .filter(|j| j.matches(&selector))
            .collect();
        let key = (
            matching.len(),
            matching.iter().map(|j| j.mod_revision).max().unwrap_or(0),
        );
        let watch = state.request.watch;
        if watch && state.last == Some(key) {
            return Step::Idle;
        }
        let entries: Vec<list_response::Journal> = matching
            .iter()
            .map(|j| list_response::Journal {
                spec: Some(j.spec.clone()),
                mod_revision: j.mod_revision,
                route: Some(self.route_of(j.name())),
                create_revision: j.create_revision,
            })
            .collect();
        let header = self.header(broker, empty_route());
        let mut pages = entries.chunks(LIST_PAGE);
        let first = ListResponse {
            status: Status::Ok as i32,
            header: Some(header),
            journals: pages.next().map(<[_]>::to_vec).unwrap_or_default(),
        };
        let rest: Vec<ListResponse> = pages
            .map(|page| ListResponse {
                journals: page.to_vec(),
                ..Default::default()
            })
            .collect();
        self.send(rpc, RpcMessage::List(first));
        for page in rest {
            self.send(rpc, RpcMessage::List(page));
        }
        if !watch {
            return self.finish(rpc, RpcEnd::Ok);
        }
        self.send(rpc, RpcMessage::List(ListResponse::default()));
        if let Kind::List(state) = &mut self.session(rpc).kind {
            state.last = Some(key);
            state.resume_revision = None;
        }
        Step::Progress
    }

    // ---- Unary calls -------------------------------------------------------

    fn answer_apply(&mut self, rpc: RpcId) -> Step {
        let session = &self.sessions[&rpc];
        let broker = session.broker;
        let Kind::Apply(request) = &session.kind else {
            unreachable!()
        };
        let request = request.clone();
        let conflict = request.changes.iter().any(|change| {
            let name = change
                .upsert
                .as_ref()
                .map_or(change.delete.as_str(), |s| s.name.as_str());
            let current = self.journals.get(name).map_or(0, |j| j.mod_revision);
            change.expect_mod_revision != -1 && change.expect_mod_revision != current
        });
        if conflict {
            let response = ApplyResponse {
                status: Status::EtcdTransactionFailed as i32,
                header: Some(self.header(broker, empty_route())),
            };
            self.send(rpc, RpcMessage::Apply(response));
            return self.finish(rpc, RpcEnd::Ok);
        }
        self.revision += 1;
        let revision = self.revision;
        for change in request.changes {
            match change.upsert {
                Some(spec) => match self.journals.get_mut(&spec.name) {
                    Some(j) => {
                        j.spec = spec;
                        j.mod_revision = revision;
                    }
                    None => {
                        let name = spec.name.clone();
                        self.journals.insert(name, SimJournal::new(spec, revision));
                    }
                },
                None => {
                    self.journals.remove(&change.delete);
                }
            }
        }
        // Assignments follow in a later revision, as the allocator's do.
        self.allocate();
        let response = ApplyResponse {
            status: Status::Ok as i32,
            header: Some(Header {
                etcd: Some(gazette_proto::header::Etcd {
                    revision,
                    ..self.header(broker, empty_route()).etcd.expect("set")
                }),
                ..self.header(broker, empty_route())
            }),
        };
        self.send(rpc, RpcMessage::Apply(response));
        self.finish(rpc, RpcEnd::Ok)
    }

    fn answer_fragments(&mut self, rpc: RpcId) -> Step {
        let session = &self.sessions[&rpc];
        let Kind::Fragments(request) = &session.kind else {
            unreachable!()
        };
        let request = request.clone();
        let header = match self.resolve(
            session.broker,
            &request.journal,
            false,
            request.do_not_proxy,
            0,
        ) {
            Resolved::Wait => return Step::Idle,
            Resolved::Fail(end) => return self.finish(rpc, end),
            Resolved::Status(status, header) => {
                let response = FragmentsResponse {
                    status: status as i32,
                    header: Some(header),
                    ..Default::default()
                };
                self.send(rpc, RpcMessage::ListFragments(response));
                return self.finish(rpc, RpcEnd::Ok);
            }
            Resolved::Serve { serving, header } => {
                self.session(rpc).serving = Some(serving);
                header
            }
        };
        let journal = &self.journals[strip_meta(&request.journal)];
        let limit = match request.page_limit {
            0 => 1000,
            n => n as usize,
        };
        let mut fragments = Vec::new();
        let mut next_page_token = 0;
        for f in journal
            .index
            .iter()
            .filter(|f| f.fragment.begin >= request.next_page_token)
        {
            if fragments.len() == limit {
                next_page_token = f.fragment.begin;
                break;
            }
            let mod_time = f.fragment.mod_time;
            let skipped = (f.is_persisted() && mod_time < request.begin_mod_time)
                || (request.end_mod_time != 0
                    && (!f.is_persisted() || mod_time > request.end_mod_time));
            if skipped || f.fragment.begin == f.fragment.end {
                continue;
            }
            let signed_url = match (&f.url, &request.signature_ttl) {
                (Some(url), Some(_)) => signed(url.clone()),
                _ => String::new(),
            };
            fragments.push(fragments_response::Fragment {
                spec: Some(f.fragment.clone()),
                signed_url,
            });
        }
        let response = FragmentsResponse {
            status: Status::Ok as i32,
            header: Some(header),
            fragments,
            next_page_token,
        };
        self.send(rpc, RpcMessage::ListFragments(response));
        self.finish(rpc, RpcEnd::Ok)
    }

    fn answer_health(&mut self, rpc: RpcId) -> Step {
        let session = &self.sessions[&rpc];
        let broker = session.broker;
        let Kind::Health(request) = &session.kind else {
            unreachable!()
        };
        let error = self.store.health_error(&request.fragment_store);
        let response = FragmentStoreHealthResponse {
            status: if error.is_some() {
                Status::FragmentStoreUnhealthy as i32
            } else {
                Status::Ok as i32
            },
            header: Some(self.header(broker, empty_route())),
            store_health_error: error.unwrap_or_default(),
        };
        self.send(rpc, RpcMessage::FragmentStoreHealth(response));
        self.finish(rpc, RpcEnd::Ok)
    }
}

fn status_response(status: Status, header: Header) -> AppendResponse {
    AppendResponse {
        status: status as i32,
        header: Some(header),
        ..Default::default()
    }
}

fn codec_of(journal: &SimJournal) -> i32 {
    journal
        .spec
        .fragment
        .as_ref()
        .map_or(0, |f| f.compression_codec)
}

/// A fragment URL as a broker signs it (valid for a minute).
fn signed(url: String) -> String {
    format!("{url}?X-Sim-Signature=0&X-Sim-Expires=60")
}

/// List's legacy `prefix` meta-label matches journal names by prefix.
fn list_selector(mut selector: LabelSelector) -> LabelSelector {
    for set in [&mut selector.include, &mut selector.exclude]
        .into_iter()
        .flatten()
    {
        let mut rewritten = LabelSet::default();
        for label in std::mem::take(&mut set.labels) {
            let label = if label.name == "prefix" {
                Label {
                    name: "name".into(),
                    value: label.value,
                    prefix: true,
                }
            } else {
                label
            };
            rewritten.labels.push(label);
        }
        rewritten
            .labels
            .sort_by(|a, b| (&a.name, &a.value).cmp(&(&b.name, &b.value)));
        *set = rewritten;
    }
    selector
}

/// Removes each name of `subtract` whose values equal the journal's.
fn subtract_registers(registers: &mut LabelSet, subtract: &LabelSet) {
    let names: std::collections::BTreeSet<&str> =
        subtract.labels.iter().map(|l| l.name.as_str()).collect();
    for name in names {
        let given: Vec<&str> = values(subtract, name);
        let current: Vec<&str> = values(registers, name);
        if given == current {
            registers.labels.retain(|l| l.name != name);
        }
    }
}

/// Replaces the values of every name `union` mentions with its values.
fn union_registers(registers: &mut LabelSet, union: &LabelSet) {
    for label in &union.labels {
        registers.labels.retain(|l| l.name != label.name);
    }
    for label in &union.labels {
        crate::validate::add_label_value(registers, &label.name, &label.value);
    }
}

fn values<'a>(set: &'a LabelSet, name: &str) -> Vec<&'a str> {
    set.labels
        .iter()
        .filter(|l| l.name == name)
        .map(|l| l.value.as_str())
        .collect()
}
