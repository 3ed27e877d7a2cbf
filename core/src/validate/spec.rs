//! JournalSpec and Fragment validation (docs/protocol.md#journalspec-rules, #per-rpc-message-rules).

use std::fmt;

use gazette_proto::journal_spec::Suspend;
use gazette_proto::{CompressionCodec, Fragment, JournalSpec, LabelSet};

use super::chars::validate_path_component;
use super::codec::validate_codec;
use super::error::{InField, ValidationError, ValidationErrorKind, fail};
use super::journal::{MAX_JOURNAL_NAME_LEN, split_meta, validate_journal_name};
use super::label::{LabelSetExt, SINGLE_VALUE_LABELS, validate_label_set};
use super::url::validate_fragment_store;

const MAX_REPLICATION: i32 = 5;
const MIN_FRAGMENT_LEN: i64 = 1 << 10;
const MAX_FRAGMENT_LEN: i64 = 1 << 34;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A protobuf duration rendered as Go's `time.Duration.String` (`1m0s`,
/// `24h0m0s`, `500ms`, `0s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub i128);

/// Nanoseconds of an optional protobuf `Duration` (absent = zero, as in Go).
macro_rules! duration_nanos {
    ($d:expr) => {
        $d.as_ref().map_or(0i128, |d| {
            d.seconds as i128 * 1_000_000_000 + d.nanos as i128
        })
    };
}
pub(crate) use duration_nanos;

impl GoDuration {
    /// From whole seconds.
    pub const fn secs(s: i64) -> Self {
        GoDuration(s as i128 * NANOS_PER_SEC)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = self.0;
        if n == 0 {
            return f.write_str("0s");
        }
        let neg = n < 0;
        n = n.abs();
        let sign = if neg { "-" } else { "" };
        if n < NANOS_PER_SEC {
            // Sub-second: the largest unit that keeps the integer part > 0.
            let (unit, scale) = if n < 1_000 {
                ("ns", 1)
            } else if n < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{sign}{}{unit}", fraction(n, scale));
        }
        let hours = n / (3600 * NANOS_PER_SEC);
        let rem = n % (3600 * NANOS_PER_SEC);
        let minutes = rem / (60 * NANOS_PER_SEC);
        let secs = rem % (60 * NANOS_PER_SEC);
        f.write_str(sign)?;
        if hours > 0 {
            write!(f, "{hours}h{minutes}m")?;
        } else if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write!(f, "{}s", fraction(secs, NANOS_PER_SEC))
    }
}

/// `n / scale` with the fractional digits Go prints (trailing zeros dropped).
fn fraction(n: i128, scale: i128) -> String {
    let whole = n / scale;
    let mut frac = n % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    let mut s = scale / 10;
    while s > 0 && frac > 0 {
        digits.push(char::from(b'0' + (frac / s) as u8));
        frac %= s;
        s /= 10;
    }
    format!("{whole}.{digits}")
}

/// Go's `JournalSpec.Validate` (without the Go template execution, which a
/// non-Go client cannot reproduce: only unbalanced `{{ }}` is rejected).
pub fn validate_journal_spec(spec: &JournalSpec) -> Result<(), ValidationError> {
    validate_journal_name(&spec.name).in_field("Name")?;
    let (_, meta) = split_meta(&spec.name);
    if !meta.is_empty() {
        return fail(ValidationErrorKind::SpecNameHasMetadata(meta.to_string()));
    }
    if spec.replication < 1 || spec.replication > MAX_REPLICATION {
        return fail(ValidationErrorKind::OutOfRange {
            field: "Replication",
            value: spec.replication.to_string(),
            expected: format!("1 <= Replication <= {MAX_REPLICATION}"),
        });
    }
    let empty = LabelSet::default();
    let labels = spec.labels.as_ref().unwrap_or(&empty);
    validate_label_set(labels, false).in_field("Labels")?;
    for reserved in ["name", "prefix"] {
        if !labels.values_of(reserved).is_empty() {
            return fail(ValidationErrorKind::ReservedLabel(reserved));
        }
    }
    validate_label_constraints(labels).in_field("Labels")?;
    validate_spec_fragment(spec.fragment.as_ref().cloned().unwrap_or_default())
        .in_field("Fragment")?;
    validate_flags(spec.flags).in_field("Flags")?;
    if spec.max_append_rate < 0 {
        return fail(ValidationErrorKind::OutOfRange {
            field: "MaxAppendRate",
            value: spec.max_append_rate.to_string(),
            expected: ">= 0".to_string(),
        });
    }
    validate_suspend(spec.suspend.as_ref()).in_field("Suspend")?;
    Ok(())
}

fn validate_label_constraints(labels: &LabelSet) -> Result<(), ValidationError> {
    for (i, pair) in labels.labels.windows(2).enumerate() {
        if pair[0].name == pair[1].name && SINGLE_VALUE_LABELS.contains(&pair[1].name.as_str()) {
            return fail(ValidationErrorKind::MultipleValuesOfSingleValueLabel {
                index: i + 1,
                name: pair[1].name.clone(),
                value: pair[1].value.clone(),
            });
        }
    }
    const CONTENT_TYPE: &str = "content-type";
    const MESSAGE_TYPE: &str = "app.gazette.dev/message-type";
    const MESSAGE_SUBTYPE: &str = "app.gazette.dev/message-subtype";

    let content_type = labels.value_of(CONTENT_TYPE);
    if let Some(ct) = content_type {
        check_media_type(ct).map_err(|e| {
            ValidationError::new(ValidationErrorKind::InvalidMediaType(e.to_string()))
        })?;
    }
    if labels.value_of(MESSAGE_TYPE).is_some() {
        if content_type.is_none() {
            return fail(ValidationErrorKind::MissingCompanionLabel {
                required: CONTENT_TYPE,
                present: MESSAGE_TYPE,
            });
        }
    } else if labels.value_of(MESSAGE_SUBTYPE).is_some() {
        return fail(ValidationErrorKind::MissingCompanionLabel {
            required: MESSAGE_TYPE,
            present: MESSAGE_SUBTYPE,
        });
    }
    Ok(())
}

/// Go's `mime.ParseMediaType` restricted to what a label value can hold (no
/// `;` parameters or spaces): `type` or `type/subtype`, both RFC 2045 tokens.
fn check_media_type(v: &str) -> Result<(), &'static str> {
    fn is_token_char(c: char) -> bool {
        c.is_ascii() && c > ' ' && c != '\u{7f}' && !"()<>@,;:\\\"/[]?=".contains(c)
    }
    let base = v.split(';').next().unwrap_or("").trim();
    let typ_end = base.find(|c| !is_token_char(c)).unwrap_or(base.len());
    if typ_end == 0 {
        return Err("mime: no media type");
    }
    let rest = &base[typ_end..];
    if rest.is_empty() {
        return Ok(());
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Err("mime: expected slash after first token");
    };
    let sub_end = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
    if sub_end == 0 {
        return Err("mime: expected token after slash");
    } else if sub_end != rest.len() {
        return Err("mime: unexpected content after media subtype");
    }
    Ok(())
}

fn validate_spec_fragment(
    fragment: gazette_proto::journal_spec::Fragment,
) -> Result<(), ValidationError> {
    if fragment.length < MIN_FRAGMENT_LEN || fragment.length > MAX_FRAGMENT_LEN {
        return fail(ValidationErrorKind::OutOfRange {
            field: "Length",
            value: fragment.length.to_string(),
            expected: format!("{MIN_FRAGMENT_LEN} <= length <= {MAX_FRAGMENT_LEN}"),
        });
    }
    validate_codec(fragment.compression_codec).in_field("CompressionCodec")?;
    for (i, store) in fragment.stores.iter().enumerate() {
        let url = validate_fragment_store(store).in_field_with(|| format!("Stores[{i}]"))?;
        if i == 0
            && url.scheme == "file"
            && fragment.compression_codec == CompressionCodec::GzipOffloadDecompression as i32
        {
            return fail(ValidationErrorKind::OffloadWithFileStore(store.clone()));
        }
    }
    let refresh = GoDuration(duration_nanos!(fragment.refresh_interval));
    let (min_refresh, max_refresh) = (GoDuration::secs(1), GoDuration::secs(24 * 3600));
    if refresh < min_refresh || refresh > max_refresh {
        return fail(ValidationErrorKind::OutOfRange {
            field: "RefreshInterval",
            value: refresh.to_string(),
            expected: format!("{min_refresh} <= interval <= {max_refresh}"),
        });
    }
    let flush = GoDuration(duration_nanos!(fragment.flush_interval));
    if flush.0 != 0 && flush < GoDuration::secs(60) {
        return fail(ValidationErrorKind::OutOfRange {
            field: "FlushInterval",
            value: flush.to_string(),
            expected: format!(">= {}", GoDuration::secs(60)),
        });
    }
    check_template(&fragment.path_postfix_template).in_field("PathPostfixTemplate")?;
    Ok(())
}

/// The part of Go's template parsing a non-Go client can check: every
/// `{{` action is closed by `}}`.
fn check_template(template: &str) -> Result<(), ValidationError> {
    let mut rest = template;
    let mut line = 1;
    while let Some(open) = rest.find("{{") {
        line += rest[..open].matches('\n').count();
        let action = &rest[open + 2..];
        let Some(close) = action.find("}}") else {
            return fail(ValidationErrorKind::Template {
                line,
                reason: "unclosed action",
            });
        };
        line += action[..close].matches('\n').count();
        rest = &action[close + 2..];
    }
    Ok(())
}

fn validate_flags(flags: u32) -> Result<(), ValidationError> {
    match flags {
        0 | 1 | 2 | 4 => Ok(()),
        other => fail(ValidationErrorKind::InvalidEnum {
            template: "invalid combination ({})",
            value: other.to_string(),
        }),
    }
}

fn validate_suspend(suspend: Option<&Suspend>) -> Result<(), ValidationError> {
    let (level, offset) = suspend.map_or((0, 0), |s| (s.level, s.offset));
    if !(0..=2).contains(&level) {
        return Err(ValidationError::new(ValidationErrorKind::InvalidEnum {
            template: "invalid Level variant ({})",
            value: level.to_string(),
        })
        .in_field("Level"));
    }
    if offset < 0 {
        return Err(ValidationError::new(ValidationErrorKind::OutOfRange {
            field: "Offset",
            value: offset.to_string(),
            expected: ">= 0".to_string(),
        })
        .in_field("Offset"));
    }
    Ok(())
}

/// Go's `Fragment.Validate`: journal valid, begin ≤ end, codec defined and
/// not INVALID, `path_postfix` a path component of 0–512 bytes.
pub fn validate_fragment(fragment: &Fragment) -> Result<(), ValidationError> {
    validate_journal_name(&fragment.journal).in_field("Journal")?;
    if fragment.begin > fragment.end {
        return fail(ValidationErrorKind::BeginAfterEnd {
            begin: fragment.begin,
            end: fragment.end,
        });
    }
    validate_codec(fragment.compression_codec).in_field("CompressionCodec")?;
    validate_path_component(&fragment.path_postfix, 0, MAX_JOURNAL_NAME_LEN)
        .in_field("PathPostfix")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_strings() {
        let d = |ns: i128| GoDuration(ns).to_string();
        assert_eq!(d(0), "0s");
        assert_eq!(d(NANOS_PER_SEC), "1s");
        assert_eq!(d(60 * NANOS_PER_SEC), "1m0s");
        assert_eq!(d(24 * 3600 * NANOS_PER_SEC), "24h0m0s");
        assert_eq!(d(500_000_000), "500ms");
        assert_eq!(d(1_500_000_000), "1.5s");
        assert_eq!(d(1_500), "1.5µs");
        assert_eq!(d(-90 * NANOS_PER_SEC), "-1m30s");
    }

    #[test]
    fn media_types() {
        assert!(check_media_type("text/csv").is_ok());
        assert!(check_media_type("application/x-ndjson").is_ok());
        assert!(check_media_type("text").is_ok());
        assert_eq!(check_media_type(""), Err("mime: no media type"));
        assert_eq!(
            check_media_type("text/"),
            Err("mime: expected token after slash")
        );
        assert_eq!(
            check_media_type("a=b"),
            Err("mime: expected slash after first token")
        );
        assert_eq!(
            check_media_type("a/b/c"),
            Err("mime: unexpected content after media subtype")
        );
    }
}
