//! Journal names and their `;meta` segment (docs/protocol.md#journal-names).

use super::chars::validate_path_component;
use super::error::{InField, ValidationError};

/// Minimum byte length of a journal name.
pub const MIN_JOURNAL_NAME_LEN: usize = 4;
/// Maximum byte length of a journal name (and of its metadata segment).
pub const MAX_JOURNAL_NAME_LEN: usize = 512;

/// Splits `journal` at its first `;` into the name and the metadata segment
/// (which keeps its leading `;`, or is empty).
pub fn split_meta(journal: &str) -> (&str, &str) {
    match journal.find(';') {
        Some(i) => journal.split_at(i),
        None => (journal, ""),
    }
}

/// The journal name without any `;meta` segment.
pub fn strip_meta(journal: &str) -> &str {
    split_meta(journal).0
}

/// Go's `Journal.Validate`: the name is a path component of 4–512 bytes; a
/// metadata segment, if present, is a path component of 1–512 bytes.
pub fn validate_journal_name(journal: &str) -> Result<(), ValidationError> {
    let (name, meta) = split_meta(journal);
    validate_path_component(name, MIN_JOURNAL_NAME_LEN, MAX_JOURNAL_NAME_LEN)?;
    if !meta.is_empty() {
        validate_path_component(&meta[1..], 1, MAX_JOURNAL_NAME_LEN)
            .in_field("metadata path segment")?;
    }
    Ok(())
}
