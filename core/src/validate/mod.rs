//! Validation of names, labels, selectors, specs and messages, as the Go
//! client and brokers perform it (`broker/protocol/*_extensions.go`).
//!
//! Every check returns a [`ValidationError`]: a *context path* naming the
//! offending field (`ReadResponse.Fragment.Journal`) plus a typed
//! [`ValidationErrorKind`]. Rendering matches Go's text, so
//! `validate_journal_name("/x/yz")` displays as
//! `cannot begin with '/' (/x/yz)` and, inside a spec, as
//! `Name: cannot begin with '/' (/x/yz)`.
//!
//! Entry points:
//! * free functions for the building blocks ([`validate_token`],
//!   [`validate_path_component`], [`validate_journal_name`], ...);
//! * the [`Validate`] trait, implemented for the protocol messages the client
//!   sends or receives;
//! * the request checks the core machines run before any RPC
//!   ([`validate_read_request`], [`validate_append_preamble`],
//!   [`validate_list_request`], [`validate_get_journal`]);
//! * the label-selector text syntax: [`parse_label_selector`] and
//!   [`SelectorDisplay`] (Go's `ParseLabelSelector` / `LabelSelector.String`).

mod chars;
mod codec;
mod error;
mod journal;
mod label;
mod message;
mod request;
mod selector;
mod spec;
mod unicode_tables;
mod url;

pub use chars::{
    PATH_SYMBOLS, TOKEN_SYMBOLS, go_path_clean, is_path_char, is_token_char,
    validate_path_component, validate_token,
};
pub use codec::validate_codec;
pub use error::{ValidationError, ValidationErrorKind};
pub use journal::{
    MAX_JOURNAL_NAME_LEN, MIN_JOURNAL_NAME_LEN, split_meta, strip_meta, validate_journal_name,
};
pub use label::{
    LabelSetExt, MAX_LABEL_LEN, MAX_LABEL_VALUE_LEN, MIN_LABEL_LEN, SINGLE_VALUE_LABELS,
    add_label_value, label_selector_matches, validate_label, validate_label_selector,
    validate_label_set,
};
pub use message::{
    Validate, process_id_less, validate_header, validate_process_id, validate_route,
    validate_status,
};
pub use request::{
    validate_append_preamble, validate_get_journal, validate_list_request, validate_read_request,
};
pub use selector::{SelectorDisplay, parse_label_selector};
pub use spec::{GoDuration, validate_fragment, validate_journal_spec};
pub use url::{
    GoUrl, UrlError, UrlErrorReason, endpoint_grpc_addr, parse_url, validate_endpoint,
    validate_fragment_store,
};
