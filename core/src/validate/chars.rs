//! Character classes, tokens and path components (docs/protocol.md#character-classes).

use super::error::{ValidationError, ValidationErrorKind, fail};
use super::unicode_tables::{LETTER, NUMBER};

/// Symbols allowed in tokens besides letters and numbers.
pub const TOKEN_SYMBOLS: &str = "-_+/.";
/// Symbols allowed in paths (and label values) besides letters and numbers.
pub const PATH_SYMBOLS: &str = "-_+/.=%";

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go's `unicode.IsLetter` (general category L, Unicode 15.0).
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_table(LETTER, c)
    }
}

/// Go's `unicode.IsNumber` (general category N, Unicode 15.0).
pub(crate) fn is_number(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_table(NUMBER, c)
    }
}

/// Whether `c` may appear in a token (label names, zones, suffixes).
pub fn is_token_char(c: char) -> bool {
    is_letter(c) || is_number(c) || TOKEN_SYMBOLS.contains(c)
}

/// Whether `c` may appear in a path (journal names, label values).
pub fn is_path_char(c: char) -> bool {
    is_letter(c) || is_number(c) || PATH_SYMBOLS.contains(c)
}

/// Go's `ValidateToken`: `s` is `min..=max` bytes long and every character is
/// a letter, a number, or one of `symbols`.
pub fn validate_token(
    s: &str,
    symbols: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let len = s.len();
    if len < min || len > max {
        return fail(ValidationErrorKind::InvalidLength { len, min, max });
    }
    if s.chars()
        .any(|c| !(is_letter(c) || is_number(c) || symbols.contains(c)))
    {
        return fail(ValidationErrorKind::NotAToken(s.to_string()));
    }
    Ok(())
}

/// Go's `ValidatePathComponent`: a path-class token of `min..=max` bytes
/// that is unchanged by `path.Clean` and does not begin with `/`.
pub fn validate_path_component(s: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    validate_token(s, PATH_SYMBOLS, min, max)?;
    if !s.is_empty() && go_path_clean(s) != s {
        return fail(ValidationErrorKind::NotCleanPath(s.to_string()));
    }
    if s.starts_with('/') {
        return fail(ValidationErrorKind::BeginsWithSlash(s.to_string()));
    }
    Ok(())
}

/// Go's `path.Clean`: the shortest lexically equivalent slash path.
pub fn go_path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    // Number of leading `..` segments that cannot be popped (unrooted only).
    let mut dotdot = 0usize;
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.len() > dotdot {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                    dotdot += 1;
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_clean_matches_go_examples() {
        for (input, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("abc/./def", "abc/def"),
            ("./abc", "abc"),
            ("abc/../def", "def"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("/../abc", "/abc"),
        ] {
            assert_eq!(go_path_clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn letters_and_numbers_follow_go_categories() {
        assert!(is_letter('é') && is_letter('日') && is_letter('ß'));
        // Combining marks are Alphabetic in Rust but not letters in Go.
        assert!('\u{093E}'.is_alphabetic() && !is_letter('\u{093E}'));
        assert!('Ⅻ'.is_alphabetic() && !is_letter('Ⅻ'));
        assert!(is_number('٣') && is_number('Ⅻ') && is_number('½'));
        assert!(!is_token_char('#') && !is_token_char(' ') && !is_token_char('='));
        assert!(is_path_char('=') && is_path_char('%'));
    }
}
