//! Client settings that need no tonic types: TLS ([`TlsConfig`]), gazctl's
//! environment variables (docs/environment.md), and their errors
//! ([`ConfigError`]).

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "tls")]
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// The broker channels' TLS settings; without a TLS feature there are none.
#[cfg(feature = "tls")]
type ChannelTls = ClientTlsConfig;
#[cfg(not(feature = "tls"))]
type ChannelTls = std::convert::Infallible;

/// A client setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {variable}: {reason}")]
    InvalidVariable {
        /// The variable's name, such as `BROKER_CACHE_TTL`.
        variable: &'static str,
        /// Why its value was refused.
        reason: String,
    },
    /// A PEM file of the TLS settings could not be read.
    #[error("reading {what} {}", path.display())]
    ReadFile {
        /// Which file: the environment variable naming it, or a description.
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// PEM content holds no usable certificate or key.
    #[error("invalid {what}: {reason}")]
    InvalidPem {
        /// Which content: the environment variable naming its file, or a
        /// description.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// TLS settings were given to a build without a TLS feature
    /// (`tls-native-roots` or `tls-webpki-roots`).
    #[error(
        "TLS settings need a TLS feature of gazette-tokio (tls-native-roots or tls-webpki-roots)"
    )]
    TlsUnavailable,
}

/// PEM content, inline or in a file read when the client is built.
#[derive(Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
enum Pem {
    Bytes(Vec<u8>),
    File { path: PathBuf, what: &'static str },
}

#[cfg_attr(not(feature = "tls"), allow(dead_code))]
impl Pem {
    fn load(&self) -> Result<Vec<u8>, ConfigError> {
        match self {
            Pem::Bytes(bytes) => Ok(bytes.clone()),
            Pem::File { path, what } => {
                std::fs::read(path).map_err(|source| ConfigError::ReadFile {
                    what,
                    path: path.clone(),
                    source,
                })
            }
        }
    }

    fn what(&self, default: &'static str) -> &'static str {
        match self {
            Pem::Bytes(_) => default,
            Pem::File { what, .. } => what,
        }
    }
}

/// TLS settings of `https` endpoints, for broker channels and for fragment
/// fetches alike: trusted CAs and a client certificate, from PEM content or
/// files (read, and checked, when the client is built).
///
/// As in Go's client (gazctl's `--broker.trusted-ca-file`), trusted CAs
/// replace the system's roots for brokers; without any, the system's
/// (native) roots are trusted. [`TlsConfig::native_roots`] overrides either
/// default. Fragment fetches go to stores (cloud buckets) as well, so they
/// keep their built-in roots and trust the CAs in addition (Go's fragment
/// fetches ignore these settings: docs/go-differences.md#d36).
///
/// Only the `h2` ALPN protocol is offered to brokers, as they require.
/// `Debug` output shows no certificate or key content.
#[derive(Clone, Default)]
pub struct TlsConfig {
    base: Option<ChannelTls>,
    ca: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
    native_roots: Option<bool>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("tonic_base", &self.base.is_some())
            .field("trusted_cas", &self.ca.len())
            .field("client_identity", &self.identity.is_some())
            .field("native_roots", &self.native_roots)
            .finish()
    }
}

/// A tonic `ClientTlsConfig` as the base of the broker channels' settings
/// (CAs and an identity added to the [`TlsConfig`] are applied on top).
/// Fragment fetches cannot use its content: they get only what is added.
#[cfg(feature = "tls")]
impl From<ClientTlsConfig> for TlsConfig {
    fn from(base: ClientTlsConfig) -> Self {
        TlsConfig {
            base: Some(base),
            ..TlsConfig::default()
        }
    }
}

/// Loaded TLS settings: the channels' tonic config and the fragment
/// client's CAs and identity.
#[derive(Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct LoadedTls {
    pub(crate) channel: ChannelTls,
    #[cfg(feature = "tls")]
    pub(crate) fragment_cas: Vec<reqwest::Certificate>,
    #[cfg(feature = "tls")]
    pub(crate) fragment_identity: Option<reqwest::Identity>,
}

impl TlsConfig {
    /// Settings trusting the system's roots, with no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also trusts the CA certificates in `pem` (one or more PEM
    /// `CERTIFICATE` blocks).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca.push(Pem::Bytes(pem.into()));
        self
    }

    /// Also trusts the CA certificates in the PEM file at `path` (gazctl's
    /// `--broker.trusted-ca-file`).
    pub fn ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.ca_file_named(path, "trusted CA file")
    }

    pub(crate) fn ca_file_named(mut self, path: impl Into<PathBuf>, what: &'static str) -> Self {
        self.ca.push(Pem::File {
            path: path.into(),
            what,
        });
        self
    }

    /// Presents the client certificate (chain) `cert` with private key
    /// `key`, both PEM, to servers that ask for one (mutual TLS).
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((Pem::Bytes(cert.into()), Pem::Bytes(key.into())));
        self
    }

    /// Presents the client certificate and key in these PEM files (gazctl's
    /// `--broker.cert-file` and `--broker.cert-key-file`).
    pub fn identity_files(self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity_files_named(cert, key, ("client certificate file", "client key file"))
    }

    pub(crate) fn identity_files_named(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        what: (&'static str, &'static str),
    ) -> Self {
        self.identity = Some((
            Pem::File {
                path: cert.into(),
                what: what.0,
            },
            Pem::File {
                path: key.into(),
                what: what.1,
            },
        ));
        self
    }

    /// Whether brokers' certificates may also chain to the system's roots.
    /// Default: only when no CA is given (and no tonic base config).
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.native_roots = Some(enabled);
        self
    }

    /// Without a TLS feature, no TLS settings can be used.
    #[cfg(not(feature = "tls"))]
    pub(crate) fn load(&self) -> Result<LoadedTls, ConfigError> {
        Err(ConfigError::TlsUnavailable)
    }

    /// Reads and checks the PEM content.
    #[cfg(feature = "tls")]
    pub(crate) fn load(&self) -> Result<LoadedTls, ConfigError> {
        let native = self
            .native_roots
            .unwrap_or(self.base.is_none() && self.ca.is_empty());
        let mut channel = self.base.clone().unwrap_or_default();
        let mut fragment_cas = Vec::new();
        for ca in &self.ca {
            let what = ca.what("trusted CA");
            let pem = ca.load()?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                ConfigError::InvalidPem {
                    what,
                    reason: err.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(ConfigError::InvalidPem {
                    what,
                    reason: "no PEM CERTIFICATE block".into(),
                });
            }
            fragment_cas.extend(certs);
            channel = channel.ca_certificate(Certificate::from_pem(pem));
        }
        let mut fragment_identity = None;
        if let Some((cert, key)) = &self.identity {
            let what = cert.what("client certificate");
            let (cert, key) = (cert.load()?, key.load()?);
            let mut both = cert.clone();
            both.push(b'\n');
            both.extend_from_slice(&key);
            let identity =
                reqwest::Identity::from_pem(&both).map_err(|err| ConfigError::InvalidPem {
                    what,
                    reason: format!("certificate and key: {err}"),
                })?;
            fragment_identity = Some(identity);
            channel = channel.identity(Identity::from_pem(cert, key));
        }
        if native {
            channel = channel.with_enabled_roots();
        }
        Ok(LoadedTls {
            channel,
            fragment_cas,
            fragment_identity,
        })
    }
}

/// Parses a duration in Go's `time.ParseDuration` syntax: a sequence of
/// decimal numbers, each with an optional fraction and a unit (`ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`), such as `300ms`, `1m`, `1h30m` or `1.5h`;
/// `0` needs no unit. Negative durations are refused (Go accepts them:
/// docs/go-differences.md#d35).
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}");
    let mut rest = text;
    if let Some(unsigned) = rest.strip_prefix('+') {
        rest = unsigned;
    } else if rest.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
        let whole_len = digits(rest);
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let len = digits(after);
            fraction = &after[..len];
            rest = &after[len..];
        }
        if whole.is_empty() && fraction.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        rest = &rest[unit_len..];
        // Go's limit: the total fits an i64 of nanoseconds.
        let limit = i64::MAX as u128;
        let overflow = || format!("duration {text:?} out of range");
        let whole: u128 = if whole.is_empty() {
            0
        } else if whole.len() > 20 {
            return Err(overflow());
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut nanos = whole.checked_mul(unit).ok_or_else(overflow)?;
        let mut scale = unit;
        for digit in fraction.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            nanos += u128::from(digit - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(overflow)?;
        if total > limit {
            return Err(overflow());
        }
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_time_parse_duration_does() {
        let ok = [
            ("0", Duration::ZERO),
            ("1m", Duration::from_secs(60)),
            ("30s", Duration::from_secs(30)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            ("300ms", Duration::from_millis(300)),
            ("+2us", Duration::from_micros(2)),
            ("3\u{b5}s", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", Duration::from_millis(500)),
            ("1m0.25s", Duration::from_millis(60_250)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        for text in [
            "",
            "1",
            "10",
            "m",
            "1x",
            "1.s.",
            "-1m",
            ".s",
            "1m 2s",
            "9999999999h",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn a_missing_ca_file_is_a_typed_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-ca.pem");
        let err = TlsConfig::new().ca_file(&missing).load().err().unwrap();
        match err {
            ConfigError::ReadFile { what, path, source } => {
                assert_eq!(what, "trusted CA file");
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ca_content_without_a_certificate_is_refused() {
        let err = TlsConfig::new().ca_pem("not PEM").load().err().unwrap();
        assert!(matches!(err, ConfigError::InvalidPem { .. }), "{err:?}");
        let err = TlsConfig::new()
            .identity_pem("not a cert", "not a key")
            .load()
            .err()
            .unwrap();
        assert!(matches!(err, ConfigError::InvalidPem { .. }), "{err:?}");
    }

    #[test]
    fn debug_output_shows_no_key_content() {
        let tls = TlsConfig::new().identity_pem("CERT-BYTES", "S3CR3T-KEY");
        let debug = format!("{tls:?}");
        assert!(!debug.contains("S3CR3T"), "{debug}");
        assert!(debug.contains("client_identity: true"), "{debug}");
    }
}
