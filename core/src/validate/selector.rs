//! The label-selector text syntax: Go's `ParseLabelSelector` and
//! `LabelSelector.String` (docs/behaviour.md#label-selector-text, docs/protocol.md#label-selectors).
//!
//! The Go parser is a sequence of anchored regular expressions tried in
//! order (equality, inequality, set-in, set-not-in, exists, not-exists).
//! Every optional piece of those expressions is decided by the next
//! character alone, so a greedy hand-written scanner accepts exactly the
//! same inputs and captures the same names and values.

use std::fmt;

use gazette_proto::{Label, LabelSelector, LabelSet};

use super::chars::{is_path_char, is_token_char};
use super::error::{InField, ValidationError, ValidationErrorKind};
use super::label::{add_label_value, validate_label_selector};

/// Parses Gazette's text selector syntax (`foo=bar, baz in (a,b), !qux`)
/// into a validated [`LabelSelector`] with both `include` and `exclude` set.
///
/// ```
/// use gazette_core::validate::{SelectorDisplay, parse_label_selector};
///
/// let sel = parse_label_selector("topic in (b, a), name:prefix=org/, !deleted").unwrap();
/// assert_eq!(
///     SelectorDisplay(&sel).to_string(),
///     "name:prefix=org/,topic in (a,b),!deleted"
/// );
/// assert!(parse_label_selector("a=b").is_err()); // names need 2+ characters
///
/// // A parsed selector equals the one built to the same effect.
/// use gazette_core::proto::LabelSelector;
/// assert_eq!(
///     parse_label_selector("name:prefix=org/, !deleted").unwrap(),
///     LabelSelector::journal_prefix("org/").exclude("deleted", ""),
/// );
/// assert_eq!(parse_label_selector("").unwrap(), LabelSelector::new());
/// ```
pub fn parse_label_selector(text: &str) -> Result<LabelSelector, ValidationError> {
    let mut include = LabelSet::default();
    let mut exclude = LabelSet::default();
    let mut rest = text;

    while !rest.is_empty() {
        let consumed = if let Some((name, value, n)) = equality(rest, false) {
            add_label_value(&mut include, name, value);
            n
        } else if let Some((name, value, n)) = equality(rest, true) {
            add_label_value(&mut exclude, name, value);
            n
        } else if let Some((name, body, n)) = set_expression(rest, false) {
            add_set_values(&mut include, name, body)
                .in_field_with(|| format!("parsing {}", go_quote(rest)))?;
            n
        } else if let Some((name, body, n)) = set_expression(rest, true) {
            add_set_values(&mut exclude, name, body)
                .in_field_with(|| format!("parsing {}", go_quote(rest)))?;
            n
        } else if let Some((name, n)) = exists(rest, false) {
            add_label_value(&mut include, name, "");
            n
        } else if let Some((name, n)) = exists(rest, true) {
            add_label_value(&mut exclude, name, "");
            n
        } else {
            return Err(ValidationErrorKind::SelectorExpression(go_quote(rest)).into());
        };
        rest = &rest[consumed..];
    }

    // An empty set is left out, as the builders leave it (the broker
    // reads both alike), so a parsed selector equals the built one.
    let selector = LabelSelector {
        include: (!include.labels.is_empty()).then_some(include),
        exclude: (!exclude.labels.is_empty()).then_some(exclude),
    };
    validate_label_selector(&selector)?;
    Ok(selector)
}

/// Skips one optional space at `at`.
fn opt_space(s: &str, at: usize) -> usize {
    if s[at..].starts_with(' ') { at + 1 } else { at }
}

/// Advances over characters matching `class` from `at`; returns the new
/// position and the number of characters taken.
fn take_class(s: &str, at: usize, class: fn(char) -> bool) -> (usize, usize) {
    let mut end = at;
    let mut count = 0;
    for c in s[at..].chars() {
        if !class(c) {
            break;
        }
        end += c.len_utf8();
        count += 1;
    }
    (end, count)
}

/// `␣?([token]{2,}(?::prefix)?)`: returns the name (with any `:prefix`) and
/// the position after it.
fn name(s: &str, at: usize) -> Option<(&str, usize)> {
    let start = opt_space(s, at);
    let (mut end, count) = take_class(s, start, is_token_char);
    if count < 2 {
        return None;
    }
    if s[end..].starts_with(":prefix") {
        end += ":prefix".len();
    }
    Some((&s[start..end], end))
}

/// `␣?([path]*)`: returns the value and the position after it.
fn value(s: &str, at: usize) -> (&str, usize) {
    let start = opt_space(s, at);
    let (end, _) = take_class(s, start, is_path_char);
    (&s[start..end], end)
}

/// `␣?(?:,|$)`: returns the position after the terminator.
fn end_of_expression(s: &str, at: usize) -> Option<usize> {
    let at = opt_space(s, at);
    if at == s.len() {
        Some(at)
    } else if s[at..].starts_with(',') {
        Some(at + 1)
    } else {
        None
    }
}

/// `NAME ␣?=?= VALUE END` or, when `negated`, `NAME ␣?!= VALUE END`.
fn equality(s: &str, negated: bool) -> Option<(&str, &str, usize)> {
    let (label, at) = name(s, 0)?;
    let at = opt_space(s, at);
    let at = if negated {
        at + s[at..].starts_with("!=").then_some(2)?
    } else if s[at..].starts_with("==") {
        at + 2
    } else {
        at + s[at..].starts_with('=').then_some(1)?
    };
    let (v, at) = value(s, at);
    Some((label, v, end_of_expression(s, at)?))
}

/// `NAME␣in␣?(BODY) END` or, when `negated`, `NAME␣not␣?in␣?(BODY) END`.
fn set_expression(s: &str, negated: bool) -> Option<(&str, &str, usize)> {
    let (label, mut at) = name(s, 0)?;
    if negated {
        at += s[at..].starts_with(" not").then_some(4)?;
        at = opt_space(s, at);
        at += s[at..].starts_with("in").then_some(2)?;
    } else {
        at += s[at..].starts_with(" in").then_some(3)?;
    }
    at = opt_space(s, at);
    at += s[at..].starts_with('(').then_some(1)?;
    let close = at + s[at..].find(')')?;
    if close == at {
        return None; // The body needs at least one character.
    }
    let body = &s[at..close];
    Some((label, body, end_of_expression(s, close + 1)?))
}

/// `NAME END` or, when `negated`, `␣?!NAME END`.
fn exists(s: &str, negated: bool) -> Option<(&str, usize)> {
    let at = if negated {
        let at = opt_space(s, 0);
        at + s[at..].starts_with('!').then_some(1)?
    } else {
        0
    };
    let (label, at) = name(s, at)?;
    Some((label, end_of_expression(s, at)?))
}

/// Splits a parenthesised body by repeatedly matching `VALUE END`.
fn add_set_values(set: &mut LabelSet, label: &str, mut body: &str) -> Result<(), ValidationError> {
    while !body.is_empty() {
        let (v, at) = value(body, 0);
        let Some(next) = end_of_expression(body, at) else {
            return Err(ValidationErrorKind::SelectorSetExpression(go_quote(body)).into());
        };
        add_label_value(set, label, v);
        body = &body[next..];
    }
    Ok(())
}

/// Quotes like Go's `%q` (`strconv.Quote`) for the characters that matter
/// here: quotes, backslashes and control characters are escaped.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) <= 0xFFFF {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formats a [`LabelSelector`] in Go's canonical text form
/// (`LabelSelector.String`): include groups, then exclude groups, joined by
/// `,`; per name `name`, `name=v`, `name in (a,b)` (exclude: `!name`,
/// `name!=v`, `name notin (a,b)`), with `:prefix` on prefix-match names.
///
/// One deliberate difference: Go prints a lone include value that starts
/// with `=` as `name==v`, which re-parses as `name=v` (the `==` operator).
/// This prints `name===v` instead, which Go and this crate parse back to
/// the original value, so `parse(display(x)) == x` holds for every valid
/// selector (docs/go-differences.md#d42).
#[derive(Debug, Clone, Copy)]
pub struct SelectorDisplay<'a>(pub &'a LabelSelector);

impl fmt::Display for SelectorDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let include = self.0.include.as_ref().map_or(&[][..], |s| &s.labels[..]);
        let exclude = self.0.exclude.as_ref().map_or(&[][..], |s| &s.labels[..]);
        write_groups(f, include, false)?;
        if !include.is_empty() && !exclude.is_empty() {
            f.write_str(",")?;
        }
        write_groups(f, exclude, true)
    }
}

fn write_groups(f: &mut fmt::Formatter<'_>, labels: &[Label], exclude: bool) -> fmt::Result {
    let mut named: Vec<(String, &str)> = labels
        .iter()
        .map(|l| {
            let name = if l.prefix {
                format!("{}:prefix", l.name)
            } else {
                l.name.clone()
            };
            (name, l.value.as_str())
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0)); // Stable: values keep their order.

    let groups: Vec<&[(String, &str)]> = named.chunk_by(|a, b| a.0 == b.0).collect();
    for (i, group) in groups.iter().enumerate() {
        let name = &group[0].0;
        match (group, exclude) {
            ([(_, "")], false) => write!(f, "{name}")?,
            ([(_, "")], true) => write!(f, "!{name}")?,
            ([(_, v)], false) if v.starts_with('=') => write!(f, "{name}=={v}")?,
            ([(_, v)], false) => write!(f, "{name}={v}")?,
            ([(_, v)], true) => write!(f, "{name}!={v}")?,
            (_, _) => {
                let op = if exclude { "notin" } else { "in" };
                write!(f, "{name} {op} (")?;
                for (j, (_, v)) in group.iter().enumerate() {
                    if j != 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(v)?;
                }
                f.write_str(")")?;
            }
        }
        if i + 1 != groups.len() {
            f.write_str(",")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels of a set (an empty set is left out).
    fn labels(set: &Option<LabelSet>) -> String {
        assert!(set.as_ref().is_none_or(|s| !s.labels.is_empty()));
        set.iter()
            .flat_map(|s| &s.labels)
            .map(|l| {
                format!(
                    "{}{}={}",
                    l.name,
                    if l.prefix { "(prefix)" } else { "" },
                    l.value
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn parse_label_selector_go_cases() {
        for (text, include, exclude) in [
            ("foo = bar", "foo=bar", ""),
            ("foo:prefix =bar", "foo(prefix)=bar", ""),
            ("foo != bar", "", "foo=bar"),
            (" foo in (bing, baz,bar)", "foo=bar foo=baz foo=bing", ""),
            (" foo not in ( pear, apple )", "", "foo=apple foo=pear"),
            (
                "foo==bar, baz !=bing ,apple:prefix in (fruit, banana)",
                "apple(prefix)=banana apple(prefix)=fruit foo=bar",
                "baz=bing",
            ),
            (
                "!foo,baz,bing:prefix not in (thing-one, thing-2),!bar,",
                "baz=",
                "bar= bing(prefix)=thing-2 bing(prefix)=thing-one foo=",
            ),
            ("foo = ba=ar, exc!=who=ops", "foo=ba=ar", "exc=who=ops"),
            ("foo ", "foo=", ""),
            (" !foo", "", "foo="),
            (
                "foo = ba=ar, baz=bi=ngo,exc!=who=ops",
                "baz=bi=ngo foo=ba=ar",
                "exc=who=ops",
            ),
            (
                "foo in (bi=ng,ba=ar), exc notin (who=ops,oth=er)",
                "foo=ba=ar foo=bi=ng",
                "exc=oth=er exc=who=ops",
            ),
            ("name:prefix=examples/", "name(prefix)=examples/", ""),
            ("foo notin (a)", "", "foo=a"),
            ("foo in(a)", "foo=a", ""),
            ("foo===x", "foo==x", ""),
            ("", "", ""),
        ] {
            let sel = parse_label_selector(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(labels(&sel.include), include, "include of {text:?}");
            assert_eq!(labels(&sel.exclude), exclude, "exclude of {text:?}");
        }
    }

    #[test]
    fn parse_label_selector_rejects_go_cases() {
        for (text, error) in [
            (
                "apple,banana err in (bar)",
                r#"could not match "banana err in (bar)" to a label selector expression"#,
            ),
            (
                "banana in (bar,err baz)",
                r#"parsing "banana in (bar,err baz)": could not match "err baz" to a label selector set expression"#,
            ),
            (
                "ban=ana in (bar)",
                r#"could not match "ban=ana in (bar)" to a label selector expression"#,
            ),
            (
                "foo, foo in (bar)",
                "Include: Label has empty & non-empty values (index 1; label foo value bar)",
            ),
            (
                "foo  = bar",
                r#"could not match "foo  = bar" to a label selector expression"#,
            ),
            (
                "a=b",
                r#"could not match "a=b" to a label selector expression"#,
            ),
        ] {
            let err = parse_label_selector(text).unwrap_err();
            assert_eq!(err.to_string(), error, "{text:?}");
        }
    }

    #[test]
    fn display_is_go_canonical_form() {
        for (text, canonical) in [
            (
                "foo==bar, baz !=bing ,apple:prefix in (fruit, banana)",
                "apple:prefix in (banana,fruit),foo=bar,baz!=bing",
            ),
            (
                "!foo,baz,bing:prefix not in (thing-one, thing-2),!bar,",
                "baz,!bar,bing:prefix notin (thing-2,thing-one),!foo",
            ),
            ("foo:prefix=a, foo=b", "foo=b,foo:prefix=a"),
            ("foo===x", "foo===x"),
            ("", ""),
        ] {
            let sel = parse_label_selector(text).unwrap();
            let shown = SelectorDisplay(&sel).to_string();
            assert_eq!(shown, canonical);
            assert_eq!(parse_label_selector(&shown).unwrap(), sel);
        }
    }
}
