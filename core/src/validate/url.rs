//! The subset of Go's `net/url` parsing that endpoint, store and fragment
//! URL validation depends on, with Go's error texts.

use super::error::{ValidationError, ValidationErrorKind, fail};
use super::selector::go_quote;

/// Why a URL failed to parse (the text after `parse "<url>": `).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlErrorReason {
    /// An ASCII control character anywhere in the URL.
    #[error("net/url: invalid control character in URL")]
    ControlCharacter,
    /// The URL starts with `:`.
    #[error("missing protocol scheme")]
    MissingScheme,
    /// A relative URL whose first segment holds `:`.
    #[error("first path segment in URL cannot contain colon")]
    ColonInFirstSegment,
    /// A bad `%XX` escape (the text holds the escape).
    #[error("invalid URL escape {0}")]
    InvalidEscape(String),
    /// A character not allowed in a host.
    #[error("invalid character {0} in host name")]
    InvalidHostCharacter(String),
    /// A non-numeric port.
    #[error("invalid port {0} after host")]
    InvalidPort(String),
    /// An IPv6 literal without its closing bracket.
    #[error("missing ']' in host")]
    MissingBracket,
    /// Characters not allowed in the user-info part.
    #[error("net/url: invalid userinfo")]
    InvalidUserinfo,
}

/// A URL that failed to parse; displays as Go's `parse "<url>": <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse {}: {reason}", go_quote(.url))]
pub struct UrlError {
    /// The URL text.
    pub url: String,
    /// What is wrong.
    pub reason: UrlErrorReason,
}

/// The parts of a parsed URL (Go's `url.URL`, minus what no check uses).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GoUrl {
    /// Lower-cased scheme; empty for a relative URL.
    pub scheme: String,
    /// Opaque part of `scheme:opaque` URLs.
    pub opaque: String,
    /// Host, with any `:port`.
    pub host: String,
    /// Path (still escaped, as written).
    pub path: String,
    /// Query without the `?`.
    pub raw_query: String,
}

impl GoUrl {
    /// Whether the URL has a scheme (Go's `IsAbs`).
    pub fn is_abs(&self) -> bool {
        !self.scheme.is_empty()
    }

    /// The port of the host, or `""` (Go's `Port`).
    pub fn port(&self) -> &str {
        let host = self.host.as_str();
        let after = match host.rfind(']') {
            Some(i) if host.starts_with('[') => &host[i + 1..],
            _ => host,
        };
        match after.rfind(':') {
            Some(i) if after[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &after[i + 1..],
            _ => "",
        }
    }
}

/// Parses `raw` as Go's `url.Parse` would, for the properties validation
/// needs (scheme, host, port, path) and Go's parse failures.
pub fn parse_url(raw: &str) -> Result<GoUrl, UrlError> {
    let err = |reason| UrlError {
        url: raw.to_string(),
        reason,
    };
    let (rest, fragment) = match raw.find('#') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, ""),
    };
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(err(UrlErrorReason::ControlCharacter));
    }
    check_escapes(fragment).map_err(err)?;

    let mut url = GoUrl::default();
    let mut rest = rest;
    // Scheme: a letter, then letters, digits, `+`, `-`, `.`, up to `:`.
    for (i, c) in rest.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err(err(UrlErrorReason::MissingScheme)),
            ':' => {
                url.scheme = rest[..i].to_ascii_lowercase();
                rest = &rest[i + 1..];
                break;
            }
            _ => break,
        }
    }
    if let Some(stripped) = rest.strip_suffix('?').filter(|r| !r.contains('?')) {
        rest = stripped;
    } else if let Some(i) = rest.find('?') {
        url.raw_query = rest[i + 1..].to_string();
        rest = &rest[..i];
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        let first = rest.split('/').next().unwrap_or("");
        if first.contains(':') {
            return Err(err(UrlErrorReason::ColonInFirstSegment));
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority_end = rest[2..].find('/').map_or(rest.len(), |i| i + 2);
        let authority = &rest[2..authority_end];
        rest = &rest[authority_end..];
        let host = match authority.rfind('@') {
            Some(i) => {
                let user = &authority[..i];
                if !user
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
                {
                    return Err(err(UrlErrorReason::InvalidUserinfo));
                }
                &authority[i + 1..]
            }
            None => authority,
        };
        check_host(host).map_err(err)?;
        url.host = host.to_string();
    }
    check_escapes(rest).map_err(err)?;
    url.path = rest.to_string();
    Ok(url)
}

fn check_escapes(s: &str) -> Result<(), UrlErrorReason> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok =
                i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
            if !ok {
                let end = (i + 3).min(b.len());
                let shown = String::from_utf8_lossy(&b[i..end]).into_owned();
                return Err(UrlErrorReason::InvalidEscape(go_quote(&shown)));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
}

fn check_host(host: &str) -> Result<(), UrlErrorReason> {
    let name = if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return Err(UrlErrorReason::MissingBracket);
        };
        let port = &host[close + 1..];
        if !valid_optional_port(port) {
            return Err(UrlErrorReason::InvalidPort(go_quote(port)));
        }
        &host[1..close]
    } else {
        if let Some(i) = host.rfind(':') {
            let port = &host[i..];
            if !valid_optional_port(port) {
                return Err(UrlErrorReason::InvalidPort(go_quote(port)));
            }
        }
        host
    };
    check_escapes(name)?;
    for c in name.chars() {
        let allowed =
            !c.is_ascii() || c.is_ascii_alphanumeric() || "-_.~!$&'()*+,;=:[]<>\"%".contains(c);
        if !allowed {
            return Err(UrlErrorReason::InvalidHostCharacter(go_quote(
                &c.to_string(),
            )));
        }
    }
    Ok(())
}

/// Go's `Endpoint.Validate`: an absolute URL with a non-empty host.
pub fn validate_endpoint(endpoint: &str) -> Result<GoUrl, ValidationError> {
    let url = parse_url(endpoint).map_err(|e| ValidationError::new(e.into()))?;
    if !url.is_abs() {
        return fail(ValidationErrorKind::EndpointNotAbsolute(
            endpoint.to_string(),
        ));
    } else if url.host.is_empty() {
        return fail(ValidationErrorKind::EndpointMissingHost(
            endpoint.to_string(),
        ));
    }
    Ok(url)
}

/// Go's `Endpoint.GRPCAddr`: the address to dial for an endpoint.
/// `unix://host/path` → `unix:///path`; `https` without port → `host:443`;
/// `http` without port → `host:80`; otherwise `host[:port]` as written.
pub fn endpoint_grpc_addr(endpoint: &str) -> Result<String, ValidationError> {
    let url = validate_endpoint(endpoint)?;
    Ok(if url.scheme == "unix" {
        format!("unix://{}", url.path)
    } else if url.port().is_empty() && url.scheme == "https" {
        format!("{}:443", url.host)
    } else if url.port().is_empty() && url.scheme == "http" {
        format!("{}:80", url.host)
    } else {
        url.host
    })
}

/// Go's `FragmentStore.Validate` (docs/protocol.md#fragment-store-urls): scheme `s3`, `gs`, `azure` (with a
/// bucket), `azure-ad` (tenant, account, container) or `file` (no host),
/// and a path ending in `/`.
pub fn validate_fragment_store(store: &str) -> Result<GoUrl, ValidationError> {
    let url = parse_url(store).map_err(|e| ValidationError::new(e.into()))?;
    let missing = |part| {
        fail(ValidationErrorKind::StoreMissing {
            part,
            url: store.to_string(),
        })
    };
    if !url.is_abs() {
        return fail(ValidationErrorKind::StoreNotAbsolute(store.to_string()));
    }
    match url.scheme.as_str() {
        "s3" | "gs" | "azure" => {
            if url.host.is_empty() {
                return missing("bucket");
            }
        }
        "azure-ad" => {
            let mut segments = url.path.get(1..).unwrap_or("").split('/');
            if url.host.is_empty() {
                return missing("tenant ID");
            } else if segments.next().unwrap_or("").is_empty() {
                return missing("storage account");
            } else if segments.next().unwrap_or("").is_empty() {
                return missing("storage container");
            }
        }
        "file" => {
            if !url.host.is_empty() {
                return fail(ValidationErrorKind::FileStoreHasHost(store.to_string()));
            }
        }
        other => return fail(ValidationErrorKind::StoreInvalidScheme(other.to_string())),
    }
    if !url.path.ends_with('/') {
        return fail(ValidationErrorKind::StorePathWithoutSlash(url.path.clone()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_to_dial_address() {
        for (endpoint, addr) in [
            ("http://host:8080/path", "host:8080"),
            ("http://host", "host:80"),
            ("https://host", "host:443"),
            ("https://host:9443", "host:9443"),
            (
                "unix://localhost/tmp/broker.sock",
                "unix:///tmp/broker.sock",
            ),
            ("http://[::1]:8080", "[::1]:8080"),
            ("https://[::1]", "[::1]:443"),
            ("grpc://other:1234", "other:1234"),
        ] {
            assert_eq!(endpoint_grpc_addr(endpoint).unwrap(), addr, "{endpoint}");
        }
        assert_eq!(
            endpoint_grpc_addr("/relative").unwrap_err().to_string(),
            "not absolute: /relative"
        );
        assert_eq!(
            endpoint_grpc_addr("http:opaque").unwrap_err().to_string(),
            "missing host: http:opaque"
        );
        assert_eq!(
            endpoint_grpc_addr("http://host:port")
                .unwrap_err()
                .to_string(),
            r#"parse "http://host:port": invalid port ":port" after host"#
        );
    }

    #[test]
    fn fragment_store_validation_cases() {
        for ok in [
            "s3://bucket/",
            "s3://examples/fragments/?profile=minio&endpoint=http%3A%2F%2Fminio%3A9000",
            "gs://bucket/a/prefix/",
            "azure://container/p/",
            "azure-ad://tenant/account/container/p/",
            "file:///a/path/",
        ] {
            assert!(validate_fragment_store(ok).is_ok(), "{ok}");
        }
        for (bad, msg) in [
            ("s3://bucket", "path component doesn't end in '/' ()"),
            ("s3:///path/", "missing bucket (s3:///path/)"),
            ("ftp://host/", "invalid scheme (ftp)"),
            (
                "file://host/path/",
                "file scheme cannot have host (file://host/path/)",
            ),
            (
                "azure-ad://tenant//c/",
                "missing storage account (azure-ad://tenant//c/)",
            ),
            (
                "azure-ad://tenant/acct//",
                "missing storage container (azure-ad://tenant/acct//)",
            ),
            ("/relative/", "not absolute (/relative/)"),
            (
                "s3://bucket/%zz/",
                r#"parse "s3://bucket/%zz/": invalid URL escape "%zz""#,
            ),
        ] {
            assert_eq!(
                validate_fragment_store(bad).unwrap_err().to_string(),
                msg,
                "{bad}"
            );
        }
    }
}
