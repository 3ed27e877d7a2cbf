//! Labels, label sets and selector matching (docs/protocol.md#labels-and-label-sets, #label-selectors).

use gazette_proto::{Label, LabelSelector, LabelSet};

use super::chars::{PATH_SYMBOLS, TOKEN_SYMBOLS, validate_token};
use super::error::{InField, ValidationError, ValidationErrorKind, fail};

/// Minimum byte length of a label name.
pub const MIN_LABEL_LEN: usize = 2;
/// Maximum byte length of a label name.
pub const MAX_LABEL_LEN: usize = 64;
/// Maximum byte length of a label value.
pub const MAX_LABEL_VALUE_LEN: usize = 1024;

/// Well-known labels that may carry at most one value in a `JournalSpec`.
pub const SINGLE_VALUE_LABELS: [&str; 6] = [
    "content-type",
    "app.gazette.dev/instance",
    "app.gazette.dev/managed-by",
    "app.gazette.dev/message-subtype",
    "app.gazette.dev/message-type",
    "app.gazette.dev/region",
];

/// Go's `Label.validate(allowPrefix)`: name a 2–64 byte token, value a 0–1024
/// byte path-class token, and the prefix flag only where `allow_prefix`.
pub fn validate_label(label: &Label, allow_prefix: bool) -> Result<(), ValidationError> {
    validate_token(&label.name, TOKEN_SYMBOLS, MIN_LABEL_LEN, MAX_LABEL_LEN).in_field("Name")?;
    validate_token(&label.value, PATH_SYMBOLS, 0, MAX_LABEL_VALUE_LEN).in_field("Value")?;
    if label.prefix && !allow_prefix {
        return fail(ValidationErrorKind::PrefixOutsideSelector);
    }
    Ok(())
}

/// Go's `LabelSet.validate(allowPrefix)`: valid labels, strictly sorted by
/// (name, value), and no name with both the empty and a non-empty value.
pub fn validate_label_set(set: &LabelSet, allow_prefix: bool) -> Result<(), ValidationError> {
    for (i, label) in set.labels.iter().enumerate() {
        validate_label(label, allow_prefix).in_field_with(|| format!("Labels[{i}]"))?;
        let Some(prev) = i.checked_sub(1).map(|p| &set.labels[p]) else {
            continue;
        };
        if prev.name < label.name {
            continue;
        } else if prev.name == label.name {
            if prev.value >= label.value {
                return fail(ValidationErrorKind::LabelValuesNotSorted {
                    index: i,
                    name: label.name.clone(),
                    value: label.value.clone(),
                    previous: prev.value.clone(),
                });
            } else if prev.value.is_empty() {
                return fail(ValidationErrorKind::EmptyAndNonEmptyValues {
                    index: i,
                    name: label.name.clone(),
                    value: label.value.clone(),
                });
            }
        } else {
            return fail(ValidationErrorKind::LabelNamesNotSorted {
                index: i,
                name: label.name.clone(),
                previous: prev.name.clone(),
            });
        }
    }
    Ok(())
}

/// Go's `LabelSelector.Validate`: include and exclude are valid label sets,
/// prefix flags allowed. A missing set counts as empty.
pub fn validate_label_selector(sel: &LabelSelector) -> Result<(), ValidationError> {
    validate_label_set(sel.include.as_ref().unwrap_or(&EMPTY), true).in_field("Include")?;
    validate_label_set(sel.exclude.as_ref().unwrap_or(&EMPTY), true).in_field("Exclude")?;
    Ok(())
}

static EMPTY: LabelSet = LabelSet { labels: Vec::new() };

/// Go's `LabelSet.AddValue`: inserts (`name`, `value`) in (name, value) order,
/// keeping other values of `name`. A `name` ending in `:prefix` has the suffix
/// removed and the label marked as a prefix match. Inserting a label equal to
/// the one already at its position is a no-op.
pub fn add_label_value(set: &mut LabelSet, name: &str, value: &str) {
    let (name, prefix) = match name.strip_suffix(":prefix") {
        Some(stripped) => (stripped, true),
        None => (name, false),
    };
    let at = set
        .labels
        .partition_point(|l| (l.name.as_str(), l.value.as_str()) < (name, value));
    let label = Label {
        name: name.to_string(),
        value: value.to_string(),
        prefix,
    };
    if set.labels.get(at) != Some(&label) {
        set.labels.insert(at, label);
    }
}

/// Read and edit helpers on [`LabelSet`] (Go's `ValuesOf`, `ValueOf`,
/// `AddValue`, `SetValue`, `Remove`). They assume the set is sorted by name.
pub trait LabelSetExt {
    /// All values of `name`, in order (empty if absent).
    fn values_of(&self, name: &str) -> Vec<&str>;
    /// The first value of `name`, if present.
    fn value_of(&self, name: &str) -> Option<&str>;
    /// See [`add_label_value`].
    fn add_value(&mut self, name: &str, value: &str);
    /// Replaces all values of `name` by the single `value`.
    fn set_value(&mut self, name: &str, value: &str);
    /// Removes every label called `name`.
    fn remove(&mut self, name: &str);
}

impl LabelSetExt for LabelSet {
    fn values_of(&self, name: &str) -> Vec<&str> {
        let begin = self.labels.partition_point(|l| l.name.as_str() < name);
        self.labels[begin..]
            .iter()
            .take_while(|l| l.name == name)
            .map(|l| l.value.as_str())
            .collect()
    }

    fn value_of(&self, name: &str) -> Option<&str> {
        let begin = self.labels.partition_point(|l| l.name.as_str() < name);
        self.labels
            .get(begin)
            .filter(|l| l.name == name)
            .map(|l| l.value.as_str())
    }

    fn add_value(&mut self, name: &str, value: &str) {
        add_label_value(self, name, value)
    }

    fn set_value(&mut self, name: &str, value: &str) {
        let (bare, prefix) = match name.strip_suffix(":prefix") {
            Some(stripped) => (stripped, true),
            None => (name, false),
        };
        let begin = self.labels.partition_point(|l| l.name.as_str() < bare);
        let end = begin
            + self.labels[begin..]
                .iter()
                .take_while(|l| l.name == bare)
                .count();
        self.labels.splice(
            begin..end,
            [Label {
                name: bare.to_string(),
                value: value.to_string(),
                prefix,
            }],
        );
    }

    fn remove(&mut self, name: &str) {
        self.labels.retain(|l| l.name != name);
    }
}

/// Go's `LabelSelector.Matches`: no exclude name matches, and every include
/// name matches at least one of its values. Reproduces Go's sorted walk, so
/// prefix corner cases give Go's answers.
pub fn label_selector_matches(sel: &LabelSelector, set: &LabelSet) -> bool {
    let include = sel.include.as_ref().map_or(&[][..], |s| &s.labels[..]);
    let exclude = sel.exclude.as_ref().map_or(&[][..], |s| &s.labels[..]);
    !match_selector(exclude, &set.labels, false) && match_selector(include, &set.labels, true)
}

/// Groups of consecutive equal names.
fn name_groups(labels: &[Label]) -> impl Iterator<Item = &[Label]> {
    labels.chunk_by(|a, b| a.name == b.name)
}

fn match_selector(sel: &[Label], set: &[Label], require_all: bool) -> bool {
    for group in name_groups(sel) {
        let name = &group[0].name;
        let begin = set.partition_point(|l| l.name < *name);
        let values = &set[begin..];
        let values = &values[..values.iter().take_while(|l| l.name == *name).count()];

        let (mut a, mut b) = (group, values);
        let mut matched = false;
        while !matched && !a.is_empty() && !b.is_empty() {
            if a[0].value.is_empty()
                || (!a[0].prefix && a[0].value == b[0].value)
                || (a[0].prefix && b[0].value.starts_with(&a[0].value))
            {
                matched = true;
            } else if a[0].value < b[0].value {
                a = &a[1..];
            } else {
                b = &b[1..];
            }
        }
        if !require_all && matched {
            return true;
        } else if require_all && !matched {
            return false;
        }
    }
    require_all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        let mut s = LabelSet::default();
        for (n, v) in pairs {
            s.add_value(n, v);
        }
        s
    }

    #[test]
    fn label_set_validation_cases() {
        let ok = set(&[("aaa", "1"), ("aaa", "2"), ("bbb", ""), ("ccc", "x=y%z")]);
        assert!(validate_label_set(&ok, false).is_ok());

        let mut bad = ok.clone();
        bad.labels.swap(0, 1);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Labels not in unique, sorted order (index 1; label aaa value 1 <= 2)"
        );
        let mut bad = ok.clone();
        bad.labels.swap(1, 2);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Labels not in unique, sorted order (index 2; label name aaa <= bbb)"
        );
        let bad = set(&[("aaa", ""), ("aaa", "x")]);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Label has empty & non-empty values (index 1; label aaa value x)"
        );
        let bad = set(&[("a", "x")]);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Labels[0].Name: invalid length (1; expected 2 <= length <= 64)"
        );
        let bad = set(&[("aa", "x y")]);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Labels[0].Value: not a valid token (x y)"
        );
        let bad = set(&[("aa:prefix", "x")]);
        assert_eq!(
            validate_label_set(&bad, false).unwrap_err().to_string(),
            "Labels[0]: Prefix may not be set outside of a LabelSelector"
        );
        assert!(validate_label_set(&bad, true).is_ok());
    }

    #[test]
    fn label_set_edit_helpers() {
        let mut s = set(&[("foo", "b"), ("foo", "a"), ("bar", "1")]);
        assert_eq!(s.values_of("foo"), vec!["a", "b"]);
        assert_eq!(s.value_of("bar"), Some("1"));
        assert_eq!(s.value_of("baz"), None);
        s.set_value("foo", "z");
        assert_eq!(s.values_of("foo"), vec!["z"]);
        s.remove("bar");
        assert_eq!(s.labels.len(), 1);
        s.add_value("foo", "z");
        assert_eq!(s.labels.len(), 1, "adding an identical label is a no-op");
    }

    #[test]
    fn selector_matching_semantics() {
        let labels = set(&[("name", "a/b/c"), ("topic", "x"), ("topic", "y")]);
        let sel = |include: &[(&str, &str)], exclude: &[(&str, &str)]| LabelSelector {
            include: Some(set(include)),
            exclude: Some(set(exclude)),
        };
        assert!(label_selector_matches(&LabelSelector::default(), &labels));
        assert!(label_selector_matches(
            &sel(&[("topic", "y")], &[]),
            &labels
        ));
        assert!(label_selector_matches(&sel(&[("topic", "")], &[]), &labels));
        assert!(label_selector_matches(
            &sel(&[("topic", "q"), ("topic", "x")], &[]),
            &labels
        ));
        assert!(!label_selector_matches(
            &sel(&[("topic", "x"), ("other", "")], &[]),
            &labels
        ));
        assert!(label_selector_matches(
            &sel(&[("name:prefix", "a/b/")], &[]),
            &labels
        ));
        assert!(!label_selector_matches(
            &sel(&[("name:prefix", "a/c/")], &[]),
            &labels
        ));
        assert!(!label_selector_matches(
            &sel(&[], &[("topic", "x")]),
            &labels
        ));
        assert!(label_selector_matches(
            &sel(&[], &[("topic", "z")]),
            &labels
        ));
        assert!(!label_selector_matches(&sel(&[], &[("name", "")]), &labels));
    }
}
