//! Validation of protocol messages: process IDs, routes, headers, and the
//! requests and responses of every RPC (docs/protocol.md#routes-and-headers, #per-rpc-message-rules).

use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, Fragment,
    FragmentStoreHealthRequest, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    Header, JournalSpec, LabelSelector, LabelSet, ListRequest, ListResponse, ReadRequest,
    ReadResponse, Route, Status, append_request, apply_request, fragments_response, header,
    list_response, process_spec,
};

use super::chars::{TOKEN_SYMBOLS, validate_path_component, validate_token};
use super::error::{InField, ValidationError, ValidationErrorKind, fail};
use super::journal::{MAX_JOURNAL_NAME_LEN, validate_journal_name};
use super::label::{LabelSetExt, validate_label_selector, validate_label_set};
use super::spec::{GoDuration, duration_nanos, validate_fragment, validate_journal_spec};
use super::url::{parse_url, validate_endpoint, validate_fragment_store};

/// A protocol message that can check itself the way Go's `Validate` does.
pub trait Validate {
    /// Returns the first rule the value breaks, with the path of the field.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// Renders an ID as Go's `%+v` does: `{Zone:a Suffix:b}`.
fn id_text(id: &process_spec::Id) -> String {
    format!("{{Zone:{} Suffix:{}}}", id.zone, id.suffix)
}

/// Go's `ProcessSpec_ID.Validate`: zone a 1–32 byte token, suffix 4–128.
pub fn validate_process_id(id: &process_spec::Id) -> Result<(), ValidationError> {
    validate_token(&id.zone, TOKEN_SYMBOLS, 1, 32).in_field("Zone")?;
    validate_token(&id.suffix, TOKEN_SYMBOLS, 4, 128).in_field("Suffix")?;
    Ok(())
}

/// Go's `ProcessSpec_ID.Less`: by zone, then suffix, byte-wise.
pub fn process_id_less(a: &process_spec::Id, b: &process_spec::Id) -> bool {
    (&a.zone, &a.suffix) < (&b.zone, &b.suffix)
}

/// Go's `Route.Validate`: members valid and strictly increasing, primary in
/// `-1..len(members)`, endpoints empty or one per member, each non-empty
/// endpoint valid.
pub fn validate_route(route: &Route) -> Result<(), ValidationError> {
    for (i, member) in route.members.iter().enumerate() {
        validate_process_id(member).in_field_with(|| format!("Members[{i}]"))?;
        if i != 0 && !process_id_less(&route.members[i - 1], member) {
            return fail(ValidationErrorKind::MembersNotSorted {
                index: i,
                previous: id_text(&route.members[i - 1]),
                current: id_text(member),
            });
        }
    }
    let members = route.members.len();
    if route.primary < -1 || route.primary as i64 >= members as i64 {
        return fail(ValidationErrorKind::OutOfRange {
            field: "Primary",
            value: route.primary.to_string(),
            expected: format!("-1 <= Primary < {members}"),
        });
    }
    let endpoints = route.endpoints.len();
    if endpoints != 0 && endpoints != members {
        return fail(ValidationErrorKind::EndpointsLength { endpoints, members });
    }
    for (i, endpoint) in route.endpoints.iter().enumerate() {
        if !endpoint.is_empty() {
            validate_endpoint(endpoint).in_field_with(|| format!("Endpoints[{i}]"))?;
        }
    }
    Ok(())
}

fn validate_etcd(etcd: &header::Etcd) -> Result<(), ValidationError> {
    if etcd.cluster_id == 0 {
        fail(ValidationErrorKind::Zero("ClusterId"))
    } else if etcd.member_id == 0 {
        fail(ValidationErrorKind::Zero("MemberId"))
    } else if etcd.revision <= 0 {
        fail(ValidationErrorKind::OutOfRange {
            field: "Revision",
            value: etcd.revision.to_string(),
            expected: "0 < revision".to_string(),
        })
    } else if etcd.raft_term == 0 {
        fail(ValidationErrorKind::Zero("RaftTerm"))
    } else {
        Ok(())
    }
}

/// Go's `Header.Validate`. An absent route counts as Go's zero route
/// (primary 0, no members), which fails; an absent Etcd block fails too.
pub fn validate_header(header: &Header) -> Result<(), ValidationError> {
    if let Some(id) = header
        .process_id
        .as_ref()
        .filter(|id| **id != Default::default())
    {
        validate_process_id(id).in_field("ProcessId")?;
    }
    validate_route(header.route.as_ref().unwrap_or(&Route::default())).in_field("Route")?;
    validate_etcd(&header.etcd.unwrap_or_default()).in_field("Etcd")?;
    Ok(())
}

/// A header that Go holds by value: absent means the zero header.
fn validate_required_header(header: &Option<Header>) -> Result<(), ValidationError> {
    match header {
        Some(h) => validate_header(h),
        None => validate_header(&Header::default()),
    }
    .in_field("Header")
}

fn validate_optional_header(header: &Option<Header>) -> Result<(), ValidationError> {
    match header {
        Some(h) => validate_header(h).in_field("Header"),
        None => Ok(()),
    }
}

/// Go's `Status.Validate`: one of the defined statuses.
pub fn validate_status(status: i32) -> Result<(), ValidationError> {
    match Status::try_from(status) {
        Ok(_) => Ok(()),
        Err(_) => fail(ValidationErrorKind::InvalidEnum {
            template: "invalid status ({})",
            value: status.to_string(),
        }),
    }
}

impl Validate for process_spec::Id {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_process_id(self)
    }
}

impl Validate for Route {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_route(self)
    }
}

impl Validate for Header {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_header(self)
    }
}

impl Validate for LabelSet {
    /// Labels outside selectors: no prefix flags.
    fn validate(&self) -> Result<(), ValidationError> {
        validate_label_set(self, false)
    }
}

impl Validate for LabelSelector {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_label_selector(self)
    }
}

impl Validate for JournalSpec {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_journal_spec(self)
    }
}

impl Validate for Fragment {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_fragment(self)
    }
}

impl Validate for ReadRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_optional_header(&self.header)?;
        validate_journal_name(&self.journal).in_field("Journal")?;
        if self.offset < -1 {
            return fail(ValidationErrorKind::OutOfRange {
                field: "Offset",
                value: self.offset.to_string(),
                expected: "-1 <= Offset <= MaxInt64".to_string(),
            });
        }
        if self.end_offset < 0 || (self.end_offset != 0 && self.end_offset < self.offset) {
            return fail(ValidationErrorKind::OutOfRange {
                field: "EndOffset",
                value: self.end_offset.to_string(),
                expected: "0 or Offset <= EndOffset".to_string(),
            });
        }
        Ok(())
    }
}

impl Validate for ReadResponse {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        if !self.content.is_empty() {
            let unexpected =
                |field, value: String| fail(ValidationErrorKind::UnexpectedValue { field, value });
            if self.status != Status::Ok as i32 {
                return unexpected(
                    "Status with Content",
                    crate::status::status_name(self.status),
                );
            } else if let Some(h) = &self.header {
                return unexpected("Header with Content", format!("{h:?}"));
            } else if self.write_head != 0 {
                return unexpected("WriteHead with Content", self.write_head.to_string());
            } else if let Some(f) = &self.fragment {
                return unexpected("Fragment with Content", format!("{f:?}"));
            } else if !self.fragment_url.is_empty() {
                return unexpected("FragmentUrl with Content", self.fragment_url.clone());
            }
            return Ok(());
        }
        validate_optional_header(&self.header)?;
        if self.write_head < 0 {
            return fail(ValidationErrorKind::OutOfRange {
                field: "WriteHead",
                value: self.write_head.to_string(),
                expected: ">= 0".to_string(),
            });
        }
        if let Some(fragment) = &self.fragment {
            validate_fragment(fragment).in_field("Fragment")?;
            if self.offset < fragment.begin || self.offset >= fragment.end {
                return fail(ValidationErrorKind::OutOfRange {
                    field: "Offset",
                    value: self.offset.to_string(),
                    expected: format!("{} <= offset < {}", fragment.begin, fragment.end),
                });
            } else if self.write_head < fragment.end {
                return fail(ValidationErrorKind::OutOfRange {
                    field: "WriteHead",
                    value: self.write_head.to_string(),
                    expected: format!(">= {}", fragment.end),
                });
            }
            if !self.fragment_url.is_empty() {
                parse_url(&self.fragment_url)
                    .map_err(|e| ValidationError::new(e.into()))
                    .in_field("FragmentUrl")?;
            }
        } else if self.status == Status::Ok as i32 && self.offset != 0 {
            return fail(ValidationErrorKind::UnexpectedValue {
                field: "Offset without Fragment or Content",
                value: self.offset.to_string(),
            });
        } else if !self.fragment_url.is_empty() {
            return fail(ValidationErrorKind::UnexpectedValue {
                field: "FragmentUrl without Fragment",
                value: self.fragment_url.clone(),
            });
        }
        Ok(())
    }
}

fn suspend_text(suspend: i32) -> String {
    append_request::Suspend::try_from(suspend)
        .map(|s| s.as_str_name().to_string())
        .unwrap_or_else(|_| suspend.to_string())
}

impl Validate for AppendRequest {
    /// The preamble (journal set) or a content chunk (journal empty).
    fn validate(&self) -> Result<(), ValidationError> {
        if !self.journal.is_empty() {
            validate_optional_header(&self.header)?;
            validate_journal_name(&self.journal).in_field("Journal")?;
            if self.offset < 0 {
                return fail(ValidationErrorKind::OutOfRange {
                    field: "Offset",
                    value: self.offset.to_string(),
                    expected: ">= 0".to_string(),
                });
            } else if !self.content.is_empty() {
                return fail(ValidationErrorKind::Unexpected("Content"));
            }
            if let Some(sel) = &self.check_registers {
                validate_label_selector(sel).in_field("CheckRegisters")?;
            }
            if let Some(set) = &self.union_registers {
                validate_label_set(set, false).in_field("UnionRegisters")?;
            }
            if let Some(set) = &self.subtract_registers {
                validate_label_set(set, false).in_field("SubtractRegisters")?;
            }
            if append_request::Suspend::try_from(self.suspend).is_err() {
                return Err(ValidationError::new(ValidationErrorKind::InvalidEnum {
                    template: "invalid Suspend variant ({})",
                    value: self.suspend.to_string(),
                })
                .in_field("Suspend"));
            }
            return Ok(());
        }
        let unexpected = |what| fail(ValidationErrorKind::Unexpected(what));
        if self.header.is_some() {
            unexpected("Header")
        } else if self.do_not_proxy {
            unexpected("DoNotProxy")
        } else if self.offset != 0 {
            unexpected("Offset")
        } else if self.check_registers.is_some() {
            unexpected("CheckRegisters")
        } else if self.union_registers.is_some() {
            unexpected("UnionRegisters")
        } else if self.subtract_registers.is_some() {
            unexpected("SubtractRegisters")
        } else if self.suspend != append_request::Suspend::Resume as i32 {
            fail(ValidationErrorKind::UnexpectedValue {
                field: "Suspend",
                value: format!("{}; expected SUSPEND_RESUMED", suspend_text(self.suspend)),
            })
        } else {
            Ok(())
        }
    }
}

impl Validate for AppendResponse {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        validate_required_header(&self.header)?;
        if self.status == Status::Ok as i32 && self.commit.is_none() {
            return fail(ValidationErrorKind::Expected("Commit"));
        }
        if (self.status == Status::Ok as i32 || self.status == Status::RegisterMismatch as i32)
            && self.registers.is_none()
        {
            return fail(ValidationErrorKind::Expected("Registers"));
        }
        if let Some(commit) = &self.commit {
            validate_fragment(commit).in_field("Commit")?;
        }
        if let Some(registers) = &self.registers {
            validate_label_set(registers, false).in_field("Registers")?;
        }
        Ok(())
    }
}

impl Validate for ListRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        let selector = self.selector.clone().unwrap_or_default();
        validate_label_selector(&selector).in_field("Selector")?;
        for (part, set) in [
            ("Include", &selector.include),
            ("Exclude", &selector.exclude),
        ] {
            let Some(set) = set else { continue };
            if let Some(v) = set
                .values_of("prefix")
                .into_iter()
                .find(|v| !v.ends_with('/'))
            {
                return Err(
                    ValidationError::new(ValidationErrorKind::ExpectedTrailingSlash(v.to_string()))
                        .in_field("Labels[\"prefix\"]")
                        .in_field(part)
                        .in_field("Selector"),
                );
            }
        }
        Ok(())
    }
}

impl Validate for list_response::Journal {
    fn validate(&self) -> Result<(), ValidationError> {
        match &self.spec {
            Some(spec) => validate_journal_spec(spec),
            None => validate_journal_spec(&JournalSpec::default()),
        }
        .in_field("Spec")?;
        if self.mod_revision <= 0 {
            return fail(ValidationErrorKind::OutOfRange {
                field: "ModRevision",
                value: self.mod_revision.to_string(),
                expected: "> 0".to_string(),
            });
        }
        validate_route(self.route.as_ref().unwrap_or(&Route::default())).in_field("Route")?;
        Ok(())
    }
}

impl Validate for ListResponse {
    /// Validates the first message of a snapshot (Go checks only that one).
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        validate_required_header(&self.header)?;
        for (i, journal) in self.journals.iter().enumerate() {
            journal
                .validate()
                .in_field_with(|| format!("Journals[{i}]"))?;
        }
        Ok(())
    }
}

impl Validate for apply_request::Change {
    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(spec) = &self.upsert {
            if !self.delete.is_empty() {
                return fail(ValidationErrorKind::ChangeHasBoth);
            }
            validate_journal_spec(spec).in_field("Upsert")?;
            if self.expect_mod_revision < -1 {
                return fail(ValidationErrorKind::OutOfRange {
                    field: "ExpectModRevision",
                    value: self.expect_mod_revision.to_string(),
                    expected: ">= 0 or -1".to_string(),
                });
            }
        } else if !self.delete.is_empty() {
            validate_journal_name(&self.delete).in_field("Delete")?;
            if self.expect_mod_revision <= 0 && self.expect_mod_revision != -1 {
                return fail(ValidationErrorKind::OutOfRange {
                    field: "ExpectModRevision",
                    value: self.expect_mod_revision.to_string(),
                    expected: "> 0 or -1".to_string(),
                });
            }
        } else {
            return fail(ValidationErrorKind::ChangeHasNeither);
        }
        Ok(())
    }
}

impl Validate for ApplyRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        for (i, change) in self.changes.iter().enumerate() {
            change
                .validate()
                .in_field_with(|| format!("Changes[{i}]"))?;
        }
        Ok(())
    }
}

impl Validate for ApplyResponse {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        validate_required_header(&self.header)
    }
}

impl Validate for FragmentsRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_optional_header(&self.header)?;
        validate_journal_name(&self.journal).in_field("Journal")?;
        if self.end_mod_time != 0 && self.end_mod_time < self.begin_mod_time {
            return fail(ValidationErrorKind::EndModTimeBeforeBegin {
                end: self.end_mod_time,
                begin: self.begin_mod_time,
            });
        } else if self.next_page_token < 0 {
            return fail(ValidationErrorKind::Requirement {
                field: "NextPageToken",
                value: self.next_page_token.to_string(),
                requirement: "must be >= 0",
            });
        } else if !(0..=10000).contains(&self.page_limit) {
            return fail(ValidationErrorKind::Requirement {
                field: "PageLimit",
                value: self.page_limit.to_string(),
                requirement: "must be >= 0 and <= 10000",
            });
        }
        if self.signature_ttl.is_some() {
            let ttl = GoDuration(duration_nanos!(self.signature_ttl));
            if ttl.0 <= 0 {
                return fail(ValidationErrorKind::Requirement {
                    field: "SignatureTTL",
                    value: ttl.to_string(),
                    requirement: "must be > 0s",
                });
            }
        }
        Ok(())
    }
}

impl Validate for fragments_response::Fragment {
    fn validate(&self) -> Result<(), ValidationError> {
        match &self.spec {
            Some(spec) => validate_fragment(spec),
            None => validate_fragment(&Fragment::default()),
        }
        .in_field("Spec")?;
        parse_url(&self.signed_url)
            .map_err(|e| ValidationError::new(e.into()))
            .in_field("SignedUrl")?;
        Ok(())
    }
}

impl Validate for FragmentsResponse {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        validate_required_header(&self.header)?;
        for (i, fragment) in self.fragments.iter().enumerate() {
            fragment
                .validate()
                .in_field_with(|| format!("Fragments[{i}]"))?;
        }
        Ok(())
    }
}

impl Validate for FragmentStoreHealthRequest {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_fragment_store(&self.fragment_store).in_field("FragmentStore")?;
        let prefix = self.check_delete_prefix.as_str();
        if prefix.is_empty() {
            return Ok(());
        }
        let in_prefix = |kind| Err(ValidationError::new(kind).in_field("CheckDeletePrefix"));
        if !self.check_delete {
            return in_prefix(ValidationErrorKind::PrefixWithoutCheckDelete);
        }
        let Some(trimmed) = prefix.strip_suffix('/') else {
            return in_prefix(ValidationErrorKind::MustEndInSlash(prefix.to_string()));
        };
        if trimmed == ".." || trimmed.starts_with("../") {
            return in_prefix(ValidationErrorKind::TraversesOutsideStore(
                prefix.to_string(),
            ));
        }
        validate_path_component(trimmed, 1, MAX_JOURNAL_NAME_LEN).in_field("CheckDeletePrefix")
    }
}

impl Validate for FragmentStoreHealthResponse {
    fn validate(&self) -> Result<(), ValidationError> {
        validate_status(self.status).in_field("Status")?;
        validate_required_header(&self.header)
    }
}
