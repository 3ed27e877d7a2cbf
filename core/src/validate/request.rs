//! Client-side checks of the requests the client sends, one entry point per
//! RPC. The core machines call them before they ask a driver for any RPC,
//! so an invalid request fails at once with a [`ValidationError`] whose
//! context path starts at `Request` (Go's `ExtendContext(err, "Request")`),
//! instead of being sent, refused by the broker and, by a retrying caller,
//! sent again forever (Go validates only Append requests client-side:
//! docs/go-differences.md#d39).

use gazette_proto::{AppendRequest, ListRequest, ReadRequest};

use super::error::{InField, ValidationError};
use super::journal::validate_journal_name;
use super::message::Validate;

/// A Read request: header (if any), journal name and `;meta` segment,
/// `offset >= -1`, and an `end_offset` of 0 or not before `offset`.
pub fn validate_read_request(request: &ReadRequest) -> Result<(), ValidationError> {
    request.validate().in_field("Request")
}

/// An Append preamble: the journal is required (an empty journal would make
/// the message a content chunk), then every rule of Go's
/// `AppendRequest.Validate`: header, journal name and `;meta` segment,
/// offset, no content, register selector and label sets, suspend value.
pub fn validate_append_preamble(request: &AppendRequest) -> Result<(), ValidationError> {
    if request.journal.is_empty() {
        return validate_journal_name("")
            .in_field("Journal")
            .in_field("Request");
    }
    request.validate().in_field("Request")
}

/// A List request: a valid selector (prefix flags allowed) whose legacy
/// `prefix` meta-label values end in `/`.
pub fn validate_list_request(request: &ListRequest) -> Result<(), ValidationError> {
    request.validate().in_field("Request")
}

/// The journal of a GetJournal call (a `;meta` segment is allowed and
/// ignored by the lookup, but must itself be valid).
pub fn validate_get_journal(journal: &str) -> Result<(), ValidationError> {
    validate_journal_name(journal)
        .in_field("Journal")
        .in_field("Request")
}
