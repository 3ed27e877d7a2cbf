//! The validation error: a context path plus a typed kind.

use std::fmt;

/// What is wrong with a validated value. The texts match Go's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationErrorKind {
    /// A token or path is too short or too long (lengths in bytes).
    #[error("invalid length ({len}; expected {min} <= length <= {max})")]
    InvalidLength {
        /// The byte length found.
        len: usize,
        /// The minimum allowed.
        min: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// A character outside the token or path class.
    #[error("not a valid token ({0})")]
    NotAToken(String),
    /// A path that `path.Clean` would change.
    #[error("must be a clean path ({0})")]
    NotCleanPath(String),
    /// A path component starting with `/`.
    #[error("cannot begin with '/' ({0})")]
    BeginsWithSlash(String),
    /// A label with the prefix flag outside a selector.
    #[error("Prefix may not be set outside of a LabelSelector")]
    PrefixOutsideSelector,
    /// Two labels of the same name out of value order (or duplicated).
    #[error(
        "Labels not in unique, sorted order (index {index}; label {name} value {value} <= {previous})"
    )]
    LabelValuesNotSorted {
        /// Index of the offending label.
        index: usize,
        /// Its name.
        name: String,
        /// Its value.
        value: String,
        /// The previous label's value.
        previous: String,
    },
    /// Labels out of name order.
    #[error("Labels not in unique, sorted order (index {index}; label name {name} <= {previous})")]
    LabelNamesNotSorted {
        /// Index of the offending label.
        index: usize,
        /// Its name.
        name: String,
        /// The previous label's name.
        previous: String,
    },
    /// A name carrying both the empty value and non-empty ones.
    #[error("Label has empty & non-empty values (index {index}; label {name} value {value})")]
    EmptyAndNonEmptyValues {
        /// Index of the offending label.
        index: usize,
        /// Its name.
        name: String,
        /// Its (non-empty) value.
        value: String,
    },
    /// A well-known single-value label with several values.
    #[error(
        "expected single-value Label has multiple values (index {index}; label {name} value {value})"
    )]
    MultipleValuesOfSingleValueLabel {
        /// Index of the second value.
        index: usize,
        /// The label name.
        name: String,
        /// The second value.
        value: String,
    },
    /// A reserved meta-label (`name`, `prefix`) in a spec's labels.
    #[error("Labels cannot include label \"{0}\"")]
    ReservedLabel(&'static str),
    /// A `content-type` label that is not a media type.
    #[error("parsing content-type: {0}")]
    InvalidMediaType(String),
    /// A label that requires a companion label which is missing.
    #[error("expected {required} label alongside {present}")]
    MissingCompanionLabel {
        /// The required label.
        required: &'static str,
        /// The label that requires it.
        present: &'static str,
    },
    /// A `JournalSpec.name` with a `;meta` segment.
    #[error("Name cannot have a metadata path segment ({0}; expected no segment)")]
    SpecNameHasMetadata(String),
    /// A numeric or duration field out of range.
    #[error("invalid {field} ({value}; expected {expected})")]
    OutOfRange {
        /// The field name, as Go spells it.
        field: &'static str,
        /// The value found, rendered as Go renders it.
        value: String,
        /// The allowed range.
        expected: String,
    },
    /// A field that must not be zero.
    #[error("invalid {0} (expected != 0)")]
    Zero(&'static str),
    /// A paging or time field of a FragmentsRequest violating its rule.
    #[error("invalid {field} ({value}; {requirement})")]
    Requirement {
        /// The field name.
        field: &'static str,
        /// The value found.
        value: String,
        /// The rule, as Go words it (`must be >= 0`).
        requirement: &'static str,
    },
    /// `end_mod_time` before `begin_mod_time`.
    #[error("invalid EndModTime ({end} must be after {begin})")]
    EndModTimeBeforeBegin {
        /// The end time (Unix seconds).
        end: i64,
        /// The begin time (Unix seconds).
        begin: i64,
    },
    /// A fragment whose begin is after its end.
    #[error("expected Begin <= End (have {begin}, {end})")]
    BeginAfterEnd {
        /// Begin offset.
        begin: i64,
        /// End offset.
        end: i64,
    },
    /// An enum field holding an undefined (or forbidden) value. `template`
    /// is Go's wording, with `{}` standing for the rendered value.
    #[error("{}", .template.replace("{}", .value))]
    InvalidEnum {
        /// Go's message template, e.g. `invalid status ({})`.
        template: &'static str,
        /// The value as Go renders it (the enum name or the bare number).
        value: String,
    },
    /// Route members out of (zone, suffix) order or duplicated.
    #[error("Members not in unique, sorted order (index {index}; {previous} <= {current})")]
    MembersNotSorted {
        /// Index of the offending member.
        index: usize,
        /// The previous member, as `{Zone:a Suffix:b}`.
        previous: String,
        /// The offending member.
        current: String,
    },
    /// Route endpoints neither empty nor one per member.
    #[error("len(Endpoints) != 0, and != len(Members) ({endpoints} vs {members})")]
    EndpointsLength {
        /// Number of endpoints.
        endpoints: usize,
        /// Number of members.
        members: usize,
    },
    /// A URL that does not parse.
    #[error(transparent)]
    Url(#[from] super::UrlError),
    /// An endpoint URL that is not absolute.
    #[error("not absolute: {0}")]
    EndpointNotAbsolute(String),
    /// An endpoint URL without host.
    #[error("missing host: {0}")]
    EndpointMissingHost(String),
    /// A fragment store URL that is not absolute.
    #[error("not absolute ({0})")]
    StoreNotAbsolute(String),
    /// A fragment store URL missing a required part (`bucket`,
    /// `tenant ID`, `storage account`, `storage container`).
    #[error("missing {part} ({url})")]
    StoreMissing {
        /// What is missing, as Go words it.
        part: &'static str,
        /// The store URL.
        url: String,
    },
    /// A `file://` store with a host.
    #[error("file scheme cannot have host ({0})")]
    FileStoreHasHost(String),
    /// A fragment store URL with an unsupported scheme.
    #[error("invalid scheme ({0})")]
    StoreInvalidScheme(String),
    /// A fragment store URL whose path does not end in `/`.
    #[error("path component doesn't end in '/' ({0})")]
    StorePathWithoutSlash(String),
    /// GZIP_OFFLOAD_DECOMPRESSION with a `file://` first store.
    #[error("GZIP_OFFLOAD_DECOMPRESSION is incompatible with file:// stores ({0})")]
    OffloadWithFileStore(String),
    /// A path-postfix template that cannot parse.
    #[error("template: postfix:{line}: {reason}")]
    Template {
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field that must be empty in this position.
    #[error("unexpected {0}")]
    Unexpected(&'static str),
    /// A field that must be empty in this position, with its value.
    #[error("unexpected {field} ({value})")]
    UnexpectedValue {
        /// What is unexpected (`Status with Content`, ...).
        field: &'static str,
        /// Its rendered value.
        value: String,
    },
    /// A required field that is missing.
    #[error("expected {0}")]
    Expected(&'static str),
    /// An Apply change with both an upsert and a delete.
    #[error("both Upsert and Delete are set (expected exactly one)")]
    ChangeHasBoth,
    /// An Apply change with neither an upsert nor a delete.
    #[error("neither Upsert nor Delete are set (expected exactly one)")]
    ChangeHasNeither,
    /// A legacy `prefix` selector value without a trailing slash.
    #[error("expected trailing '/' ({0})")]
    ExpectedTrailingSlash(String),
    /// `check_delete_prefix` without `check_delete`.
    #[error("cannot be set when CheckDelete is false")]
    PrefixWithoutCheckDelete,
    /// A check-delete prefix without a trailing slash.
    #[error("must end in '/' ({0})")]
    MustEndInSlash(String),
    /// A check-delete prefix escaping the store root.
    #[error("cannot traverse outside the store ({0})")]
    TraversesOutsideStore(String),
    /// Text that no label-selector expression matches.
    #[error("could not match {0} to a label selector expression")]
    SelectorExpression(String),
    /// A value list element inside `( ... )` that does not match.
    #[error("could not match {0} to a label selector set expression")]
    SelectorSetExpression(String),
}

/// A validation failure: the path of fields leading to the offending value
/// plus what is wrong with it. Displays as `A.B: message` (or just the
/// message when the path is empty), exactly like Go's `ValidationError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    context: Vec<String>,
    kind: Box<ValidationErrorKind>,
}

impl ValidationError {
    /// An error with an empty context path.
    pub fn new(kind: ValidationErrorKind) -> Self {
        ValidationError {
            context: Vec::new(),
            kind: Box::new(kind),
        }
    }

    /// Prepends `field` to the context path (Go's `ExtendContext`).
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.context.insert(0, field.into());
        self
    }

    /// The context path elements, outermost first.
    pub fn context(&self) -> &[String] {
        &self.context
    }

    /// The context path joined by `.` (`Fragment.Journal`); empty if none.
    pub fn field(&self) -> String {
        self.context.join(".")
    }

    /// What is wrong.
    pub fn kind(&self) -> &ValidationErrorKind {
        &self.kind
    }
}

impl From<ValidationErrorKind> for ValidationError {
    fn from(kind: ValidationErrorKind) -> Self {
        ValidationError::new(kind)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.context.is_empty() {
            write!(f, "{}: ", self.context.join("."))?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for ValidationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.kind.as_ref() {
            ValidationErrorKind::Url(e) => Some(e),
            _ => None,
        }
    }
}

/// Shorthand: `Err(kind.into())`.
pub(crate) fn fail<T>(kind: ValidationErrorKind) -> Result<T, ValidationError> {
    Err(ValidationError::new(kind))
}

/// Extension to add context to a `Result`.
pub(crate) trait InField<T> {
    /// Prepends `field` to the error's context path.
    fn in_field(self, field: impl Into<String>) -> Result<T, ValidationError>;
    /// Like [`InField::in_field`], with a lazily built name.
    fn in_field_with(self, field: impl FnOnce() -> String) -> Result<T, ValidationError>;
}

impl<T> InField<T> for Result<T, ValidationError> {
    fn in_field(self, field: impl Into<String>) -> Result<T, ValidationError> {
        self.map_err(|e| e.in_field(field))
    }
    fn in_field_with(self, field: impl FnOnce() -> String) -> Result<T, ValidationError> {
        self.map_err(|e| e.in_field(field()))
    }
}
