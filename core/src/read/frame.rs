//! Validation of `ReadResponse` frames, as the Go Reader validates them.
//!
//! A frame is either a *content* frame (non-empty `content`, nothing else but
//! `offset`) or a *metadata* frame (status, offset, write head, optional
//! header, fragment and URL). [`validate_frame`] applies the rules of the
//! behaviour spec §2.1 and reports the first violation with the same field
//! path and wording as Go (`ReadResponse.Fragment.Journal: invalid length
//! (0; expected 4 <= length <= 512)`).

use std::fmt;

use gazette_proto::{CompressionCodec, Fragment, Header, ReadResponse, Route, Status};
use gazette_proto::{header::Etcd, process_spec::Id};

/// A frame that breaks the Read protocol: the path of the offending field
/// (outermost first, e.g. `ReadResponse`, `Fragment`, `Journal`) and the rule
/// it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidFrame {
    /// Field path from the message down to the offending field.
    pub path: Vec<String>,
    /// The rule the field broke.
    pub violation: Violation,
}

impl fmt::Display for InvalidFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path.join("."))?;
        }
        write!(f, "{}", self.violation)
    }
}

impl InvalidFrame {
    fn new(violation: Violation) -> Self {
        InvalidFrame {
            path: Vec::new(),
            violation,
        }
    }

    fn within(mut self, field: impl Into<String>) -> Self {
        self.path.insert(0, field.into());
        self
    }
}

/// One broken validation rule of a `ReadResponse` frame or of a message it
/// carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The status number is not a defined `Status`.
    #[error("invalid status ({0})")]
    InvalidStatus(i32),
    /// A content frame also set `field` (rendered as `value`).
    #[error("unexpected {field} with Content ({value})")]
    UnexpectedWithContent {
        /// The field that must be unset on content frames.
        field: &'static str,
        /// The value it carried.
        value: String,
    },
    /// A string's byte length is outside its bounds.
    #[error("invalid length ({len}; expected {min} <= length <= {max})")]
    InvalidLength {
        /// Actual byte length.
        len: usize,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
    /// A string holds a character outside its token class.
    #[error("not a valid token ({0})")]
    NotAToken(String),
    /// A path is not in its cleaned form.
    #[error("must be a clean path ({0})")]
    NotACleanPath(String),
    /// A path starts with `/`.
    #[error("cannot begin with '/' ({0})")]
    LeadingSlash(String),
    /// A fragment begins after it ends.
    #[error("expected Begin <= End (have {begin}, {end})")]
    BeginAfterEnd {
        /// Fragment begin.
        begin: i64,
        /// Fragment end.
        end: i64,
    },
    /// A compression codec is undefined or INVALID.
    #[error("invalid value ({0})")]
    InvalidCodec(i32),
    /// Route members are not strictly increasing at `index`.
    #[error("Members not in unique, sorted order (index {index})")]
    MembersNotSorted {
        /// Index of the first member out of order.
        index: usize,
    },
    /// The route's primary is not −1 or a member index.
    #[error("invalid Primary ({primary}; expected -1 <= Primary < {members})")]
    InvalidPrimary {
        /// The primary index.
        primary: i32,
        /// Number of members.
        members: usize,
    },
    /// The route has endpoints, but not one per member.
    #[error("len(Endpoints) != 0, and != len(Members) ({endpoints} vs {members})")]
    EndpointsLength {
        /// Number of endpoints.
        endpoints: usize,
        /// Number of members.
        members: usize,
    },
    /// An endpoint is not an absolute URL with a host.
    #[error("not absolute URL with host ({0})")]
    InvalidEndpoint(String),
    /// An Etcd header id (`ClusterId`, `MemberId`, `RaftTerm`) is zero.
    #[error("invalid {0} (expected != 0)")]
    ZeroEtcdField(&'static str),
    /// The Etcd revision is not positive.
    #[error("invalid Revision ({0}; expected 0 < revision)")]
    InvalidRevision(i64),
    /// The write head is negative.
    #[error("invalid WriteHead ({0}; expected >= 0)")]
    NegativeWriteHead(i64),
    /// The frame's offset is outside its fragment.
    #[error("invalid Offset ({offset}; expected {begin} <= offset < {end})")]
    OffsetOutsideFragment {
        /// Frame offset.
        offset: i64,
        /// Fragment begin.
        begin: i64,
        /// Fragment end.
        end: i64,
    },
    /// The write head is before the end of the frame's fragment.
    #[error("invalid WriteHead ({write_head}; expected >= {fragment_end})")]
    WriteHeadBeforeFragmentEnd {
        /// Frame write head.
        write_head: i64,
        /// Fragment end.
        fragment_end: i64,
    },
    /// The fragment URL does not parse as a URL.
    #[error("invalid URL ({0})")]
    InvalidUrl(String),
    /// An OK metadata frame without a fragment has a non-zero offset.
    #[error("unexpected Offset without Fragment or Content ({0})")]
    OffsetWithoutFragment(i64),
    /// A frame without a fragment has a fragment URL.
    #[error("unexpected FragmentUrl without Fragment ({0})")]
    UrlWithoutFragment(String),
    /// A content frame's end offset does not fit in an `i64`.
    #[error("invalid Offset ({offset}; content of {len} bytes overflows)")]
    ContentOverflow {
        /// Frame offset.
        offset: i64,
        /// Content length.
        len: usize,
    },
    /// A status-OK frame starts before the offset the reader is at.
    #[error("invalid ReadResponse offset ({offset}; expected >= {request})")]
    OffsetBelowRequest {
        /// Frame offset.
        offset: i64,
        /// The reader's offset.
        request: i64,
    },
}

/// Validates one received frame (the rules of Go's `ReadResponse.Validate`),
/// with `ReadResponse` at the head of the error path.
pub fn validate_frame(frame: &ReadResponse) -> Result<(), InvalidFrame> {
    validate_response(frame).map_err(|e| e.within("ReadResponse"))
}

/// The offset check the Reader applies after validation: an OK frame may not
/// start before the reader's offset. The error has no field path, as in Go.
pub fn check_frame_offset(frame: &ReadResponse, request_offset: i64) -> Result<(), InvalidFrame> {
    if frame.status == Status::Ok as i32 && frame.offset < request_offset {
        return Err(InvalidFrame::new(Violation::OffsetBelowRequest {
            offset: frame.offset,
            request: request_offset,
        }));
    }
    Ok(())
}

fn validate_response(m: &ReadResponse) -> Result<(), InvalidFrame> {
    if Status::try_from(m.status).is_err() {
        return Err(InvalidFrame::new(Violation::InvalidStatus(m.status)).within("Status"));
    }
    if !m.content.is_empty() {
        let unexpected = |field, value: String| {
            Err(InvalidFrame::new(Violation::UnexpectedWithContent {
                field,
                value,
            }))
        };
        if m.status != Status::Ok as i32 {
            return unexpected("Status", crate::status::status_name(m.status));
        } else if let Some(h) = &m.header {
            return unexpected("Header", format!("{h:?}"));
        } else if m.write_head != 0 {
            return unexpected("WriteHead", m.write_head.to_string());
        } else if let Some(f) = &m.fragment {
            return unexpected("Fragment", format!("{f:?}"));
        } else if !m.fragment_url.is_empty() {
            return unexpected("FragmentUrl", m.fragment_url.clone());
        } else if i64::try_from(m.content.len())
            .ok()
            .and_then(|len| m.offset.checked_add(len))
            .is_none()
        {
            return Err(InvalidFrame::new(Violation::ContentOverflow {
                offset: m.offset,
                len: m.content.len(),
            }));
        }
        return Ok(());
    }
    if let Some(h) = &m.header {
        validate_header(h).map_err(|e| e.within("Header"))?;
    }
    if m.write_head < 0 {
        return Err(InvalidFrame::new(Violation::NegativeWriteHead(
            m.write_head,
        )));
    }
    match &m.fragment {
        Some(f) => {
            validate_fragment(f).map_err(|e| e.within("Fragment"))?;
            if m.offset < f.begin || m.offset >= f.end {
                return Err(InvalidFrame::new(Violation::OffsetOutsideFragment {
                    offset: m.offset,
                    begin: f.begin,
                    end: f.end,
                }));
            } else if m.write_head < f.end {
                return Err(InvalidFrame::new(Violation::WriteHeadBeforeFragmentEnd {
                    write_head: m.write_head,
                    fragment_end: f.end,
                }));
            }
            if !m.fragment_url.is_empty() && !url_parses(&m.fragment_url) {
                return Err(
                    InvalidFrame::new(Violation::InvalidUrl(m.fragment_url.clone()))
                        .within("FragmentUrl"),
                );
            }
        }
        None => {
            if m.status == Status::Ok as i32 && m.offset != 0 {
                return Err(InvalidFrame::new(Violation::OffsetWithoutFragment(
                    m.offset,
                )));
            } else if !m.fragment_url.is_empty() {
                return Err(InvalidFrame::new(Violation::UrlWithoutFragment(
                    m.fragment_url.clone(),
                )));
            }
        }
    }
    Ok(())
}

const TOKEN_SYMBOLS: &str = "-_+/.";
const PATH_SYMBOLS: &str = "-_+/.=%";

fn validate_token(s: &str, symbols: &str, min: usize, max: usize) -> Result<(), InvalidFrame> {
    if s.len() < min || s.len() > max {
        return Err(InvalidFrame::new(Violation::InvalidLength {
            len: s.len(),
            min,
            max,
        }));
    }
    if s.chars()
        .any(|c| !(c.is_alphabetic() || c.is_numeric() || symbols.contains(c)))
    {
        return Err(InvalidFrame::new(Violation::NotAToken(s.to_string())));
    }
    Ok(())
}

fn validate_path_component(s: &str, min: usize, max: usize) -> Result<(), InvalidFrame> {
    validate_token(s, PATH_SYMBOLS, min, max)?;
    if !s.is_empty() && !is_clean_path(s) {
        return Err(InvalidFrame::new(Violation::NotACleanPath(s.to_string())));
    }
    if s.starts_with('/') {
        return Err(InvalidFrame::new(Violation::LeadingSlash(s.to_string())));
    }
    Ok(())
}

/// Whether Go's `path.Clean` leaves the non-empty path `s` unchanged.
fn is_clean_path(s: &str) -> bool {
    if s == "/" || s == "." {
        return true;
    }
    if s.ends_with('/') {
        return false;
    }
    let rooted = s.starts_with('/');
    let body = if rooted { &s[1..] } else { s };
    let mut leading_dotdots = true;
    for segment in body.split('/') {
        match segment {
            "" | "." => return false,
            ".." if rooted || !leading_dotdots => return false,
            ".." => {}
            _ => leading_dotdots = false,
        }
    }
    true
}

fn validate_journal(journal: &str) -> Result<(), InvalidFrame> {
    let (name, meta) = match journal.find(';') {
        Some(i) => (&journal[..i], Some(&journal[i + 1..])),
        None => (journal, None),
    };
    validate_path_component(name, 4, 512)?;
    if let Some(meta) = meta {
        validate_path_component(meta, 1, 512).map_err(|e| e.within("metadata path segment"))?;
    }
    Ok(())
}

fn validate_fragment(f: &Fragment) -> Result<(), InvalidFrame> {
    validate_journal(&f.journal).map_err(|e| e.within("Journal"))?;
    if f.begin > f.end {
        return Err(InvalidFrame::new(Violation::BeginAfterEnd {
            begin: f.begin,
            end: f.end,
        }));
    }
    match CompressionCodec::try_from(f.compression_codec) {
        Ok(CompressionCodec::Invalid) | Err(_) => {
            return Err(
                InvalidFrame::new(Violation::InvalidCodec(f.compression_codec))
                    .within("CompressionCodec"),
            );
        }
        Ok(_) => {}
    }
    validate_path_component(&f.path_postfix, 0, 512).map_err(|e| e.within("PathPostfix"))
}

fn validate_id(id: &Id) -> Result<(), InvalidFrame> {
    validate_token(&id.zone, TOKEN_SYMBOLS, 1, 32).map_err(|e| e.within("Zone"))?;
    validate_token(&id.suffix, TOKEN_SYMBOLS, 4, 128).map_err(|e| e.within("Suffix"))
}

fn validate_route(r: &Route) -> Result<(), InvalidFrame> {
    for (i, m) in r.members.iter().enumerate() {
        validate_id(m).map_err(|e| e.within(format!("Members[{i}]")))?;
        if i != 0 {
            let prev = &r.members[i - 1];
            if (&prev.zone, &prev.suffix) >= (&m.zone, &m.suffix) {
                return Err(InvalidFrame::new(Violation::MembersNotSorted { index: i }));
            }
        }
    }
    if r.primary < -1 || r.primary >= r.members.len() as i32 {
        return Err(InvalidFrame::new(Violation::InvalidPrimary {
            primary: r.primary,
            members: r.members.len(),
        }));
    }
    if !r.endpoints.is_empty() && r.endpoints.len() != r.members.len() {
        return Err(InvalidFrame::new(Violation::EndpointsLength {
            endpoints: r.endpoints.len(),
            members: r.members.len(),
        }));
    }
    for (i, ep) in r.endpoints.iter().enumerate() {
        if !ep.is_empty() && !endpoint_is_absolute(ep) {
            return Err(InvalidFrame::new(Violation::InvalidEndpoint(ep.clone()))
                .within(format!("Endpoints[{i}]")));
        }
    }
    Ok(())
}

fn validate_etcd(e: &Etcd) -> Result<(), InvalidFrame> {
    let zero = |field| Err(InvalidFrame::new(Violation::ZeroEtcdField(field)));
    if e.cluster_id == 0 {
        zero("ClusterId")
    } else if e.member_id == 0 {
        zero("MemberId")
    } else if e.revision <= 0 {
        Err(InvalidFrame::new(Violation::InvalidRevision(e.revision)))
    } else if e.raft_term == 0 {
        zero("RaftTerm")
    } else {
        Ok(())
    }
}

fn validate_header(h: &Header) -> Result<(), InvalidFrame> {
    if let Some(id) = &h.process_id {
        if !(id.zone.is_empty() && id.suffix.is_empty()) {
            validate_id(id).map_err(|e| e.within("ProcessId"))?;
        }
    }
    // Go's Route and Etcd are non-nullable: an absent one is its zero value.
    validate_route(h.route.as_ref().unwrap_or(&Route::default())).map_err(|e| e.within("Route"))?;
    validate_etcd(h.etcd.as_ref().unwrap_or(&Etcd::default())).map_err(|e| e.within("Etcd"))
}

/// `scheme://host...` with a non-empty host (what Go's endpoint check needs).
fn endpoint_is_absolute(ep: &str) -> bool {
    let Some((scheme, rest)) = ep.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    valid_scheme(scheme) && !host.is_empty() && url_parses(ep)
}

fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// A lenient URL check in the spirit of Go's `url.Parse`: no control
/// characters or spaces, well-formed `%` escapes, and a colon before the
/// first `/` only as the end of a valid scheme.
fn url_parses(u: &str) -> bool {
    if u.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    let bytes = u.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
            if !hex(bytes.get(i + 1)) || !hex(bytes.get(i + 2)) {
                return false;
            }
            i += 2;
        }
        i += 1;
    }
    let head = u.split(['/', '?', '#']).next().unwrap_or("");
    match head.split_once(':') {
        Some((scheme, _)) => valid_scheme(scheme),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths_follow_go_path_clean() {
        for ok in ["a/b/c", "abcd", "../ab", "../../a", "a.b/c"] {
            assert!(is_clean_path(ok), "{ok}");
        }
        for bad in ["a//b", "a/", "./a", "a/./b", "a/../b", "a/..", "/../a"] {
            assert!(!is_clean_path(bad), "{bad}");
        }
    }

    #[test]
    fn journal_rules() {
        assert!(validate_journal("a/valid/path/to/a/journal").is_ok());
        assert!(validate_journal("foo/bar;baz/bing").is_ok());
        assert_eq!(
            validate_journal("zz").unwrap_err().to_string(),
            "invalid length (2; expected 4 <= length <= 512)"
        );
        assert!(validate_journal("/leading/slash").is_err());
        assert!(validate_journal("trailing/slash/").is_err());
        assert!(validate_journal("has space").is_err());
        assert_eq!(
            validate_journal("foo/bar;").unwrap_err().to_string(),
            "metadata path segment: invalid length (0; expected 1 <= length <= 512)"
        );
    }

    #[test]
    fn urls() {
        assert!(url_parses("file:///root/a/b.gz"));
        assert!(url_parses("https://s3/bucket/x?sig=abc%20"));
        assert!(!url_parses("https://s3/%zz"));
        assert!(!url_parses("1http://x"));
        assert!(endpoint_is_absolute("http://host:8080"));
        assert!(!endpoint_is_absolute("http:///path"));
        assert!(!endpoint_is_absolute("host:8080"));
    }
}
