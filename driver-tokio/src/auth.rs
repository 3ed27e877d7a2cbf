//! Authorization of broker RPCs: bearer tokens attached to every call.
//!
//! A broker started with `--broker.auth-keys` verifies an HMAC-signed JWT in
//! the `authorization: Bearer <token>` metadata of each call (docs/protocol.md#authorization).
//! [`Auth`] offers the same three modes as Go's client: no authorization, a
//! ready-made bearer token (`BROKER_AUTH_TOKEN`), or keys from which a token is
//! signed per call with the claims the call needs (`BROKER_AUTH_KEYS`); and a
//! fourth, a [`TokenSource`] asked for the token of every call (tokens that
//! expire and are refreshed, like Go's custom `Authorizer`s).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use gazette_proto::{LabelSelector, LabelSet};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tonic::metadata::MetadataValue;

use crate::Error;
use crate::config::ConfigError;

/// Capability bits and per-call claims: decided by the core client for
/// every RPC (docs/protocol.md#claims-and-capabilities).
pub use gazette_core::client::{Capability, Claims};

/// The error a [`TokenSource`] fails with.
pub type TokenSourceError = Box<dyn std::error::Error + Send + Sync>;

/// Provides the bearer token of each call (Go's `Authorizer`): a token that
/// expires and is refreshed, fetched from a credentials service, or signed
/// in a way of the caller's.
///
/// [`token`](TokenSource::token) is called for every RPC, on the caller's
/// task, so it must answer quickly: caching a token and refreshing it
/// (in the background, or when it nears expiry) is the source's business.
/// Any `Fn(&Claims) -> Result<String, TokenSourceError>` closure is a
/// source.
pub trait TokenSource: Send + Sync {
    /// The token (without the `Bearer ` prefix) of a call needing `claims`.
    fn token(&self, claims: &Claims) -> Result<String, TokenSourceError>;
}

impl<F> TokenSource for F
where
    F: Fn(&Claims) -> Result<String, TokenSourceError> + Send + Sync,
{
    fn token(&self, claims: &Claims) -> Result<String, TokenSourceError> {
        self(claims)
    }
}

/// How calls are authorized.
#[derive(Clone, Default)]
pub enum Auth {
    /// Attach nothing (brokers without `--broker.auth-keys`).
    #[default]
    None,
    /// Attach this ready-made token to every call.
    Bearer(String),
    /// Sign a short-lived HS256 token per call with the first key.
    Keyed(Vec<Vec<u8>>),
    /// Ask this source for the token of every call ([`Auth::source`]).
    Source(Arc<dyn TokenSource>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(..)"),
            Auth::Keyed(keys) => write!(f, "Auth::Keyed({} keys)", keys.len()),
            Auth::Source(_) => f.write_str("Auth::Source(..)"),
        }
    }
}

impl Auth {
    /// Parses keys as `--broker.auth-keys` does: base64 (standard, padded)
    /// entries separated by whitespace and/or commas. The special `AA==`
    /// entry is skipped. At least one real key is required.
    pub fn keyed(keys: &str) -> Result<Self, Error> {
        let mut out = Vec::new();
        for entry in keys.split(|c: char| c == ',' || c.is_whitespace()) {
            if entry.is_empty() || entry == "AA==" {
                continue;
            }
            let key = STANDARD
                .decode(entry)
                .map_err(|err| Error::Auth(format!("decoding auth key: {err}")))?;
            out.push(key);
        }
        if out.is_empty() {
            return Err(Error::Auth("auth keys hold no key".into()));
        }
        Ok(Auth::Keyed(out))
    }

    /// Tokens from `source`, asked for each call's token.
    pub fn source(source: impl TokenSource + 'static) -> Self {
        Auth::Source(Arc::new(source))
    }

    /// The mode gazctl would use from its environment: `BROKER_AUTH_KEYS`
    /// first, else `BROKER_AUTH_TOKEN`, else none (docs/environment.md).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Auth::from_env`] over `lookup` instead of the process environment
    /// (empty values count as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| lookup(name).filter(|value| !value.is_empty());
        if let Some(keys) = var("BROKER_AUTH_KEYS") {
            // The reason names no key material.
            return Auth::keyed(&keys).map_err(|err| {
                ConfigError::InvalidVariable {
                    variable: "BROKER_AUTH_KEYS",
                    reason: match err {
                        Error::Auth(reason) => reason,
                        other => other.to_string(),
                    },
                }
                .into()
            });
        }
        if let Some(token) = var("BROKER_AUTH_TOKEN") {
            return Ok(Auth::Bearer(token));
        }
        Ok(Auth::None)
    }

    /// The `authorization` metadata value for a call with `claims`, if any.
    pub fn header(
        &self,
        claims: &Claims,
    ) -> Result<Option<MetadataValue<tonic::metadata::Ascii>>, Error> {
        let token = match self {
            Auth::None => return Ok(None),
            Auth::Bearer(token) => token.clone(),
            Auth::Keyed(keys) => sign_hs256(&keys[0], claims, crate::clock::system_now())?,
            Auth::Source(source) => source.token(claims).map_err(Error::TokenSource)?,
        };
        let mut value: MetadataValue<tonic::metadata::Ascii> = format!("Bearer {token}")
            .parse()
            .map_err(|_| Error::Auth("token is not valid ASCII metadata".into()))?;
        // Kept out of HPACK tables and of debug output.
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Attaches the `authorization` metadata for `claims` to `request`.
    pub fn authorize<T>(
        &self,
        request: &mut tonic::Request<T>,
        claims: &Claims,
    ) -> Result<(), Error> {
        if let Some(value) = self.header(claims)? {
            request.metadata_mut().insert("authorization", value);
        }
        Ok(())
    }
}

/// Signs an HS256 JWT carrying `claims`, issued at `now`.
pub fn sign_hs256(key: &[u8], claims: &Claims, now: SystemTime) -> Result<String, Error> {
    let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let exp = iat + claims.lifetime.as_secs().max(1);
    let payload = serde_json::json!({
        "cap": claims.capability.0,
        "sel": selector_json(&claims.selector),
        "iat": iat,
        "exp": exp,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    let signing_input = format!("{header}.{body}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|err| Error::Auth(format!("hmac key: {err}")))?;
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{signing_input}.{signature}"))
}

/// A label selector in Go's default JSON form (docs/protocol.md#claims-and-capabilities).
fn selector_json(selector: &LabelSelector) -> serde_json::Value {
    fn set(set: Option<&LabelSet>) -> serde_json::Value {
        let labels: Vec<serde_json::Value> = set
            .map(|s| s.labels.iter())
            .into_iter()
            .flatten()
            .map(|label| {
                let mut obj = serde_json::Map::new();
                if !label.name.is_empty() {
                    obj.insert("name".into(), label.name.clone().into());
                }
                if !label.value.is_empty() {
                    obj.insert("value".into(), label.value.clone().into());
                }
                if label.prefix {
                    obj.insert("prefix".into(), true.into());
                }
                obj.into()
            })
            .collect();
        serde_json::json!({ "labels": labels })
    }
    serde_json::json!({
        "include": set(selector.include.as_ref()),
        "exclude": set(selector.exclude.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorization_value_is_marked_sensitive() {
        let claims = Claims::for_journal(Capability::READ, "a/journal");
        for auth in [
            Auth::Bearer("a-token".into()),
            Auth::keyed("c2VjcmV0").unwrap(),
        ] {
            let value = auth.header(&claims).unwrap().expect("a header");
            assert!(value.is_sensitive(), "{auth:?}");
            let mut request = tonic::Request::new(());
            auth.authorize(&mut request, &claims).unwrap();
            let sent = request.metadata().get("authorization").expect("attached");
            assert!(sent.is_sensitive(), "{auth:?}");
        }
    }

    #[test]
    fn a_token_source_is_asked_for_every_calls_token() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let auth = Auth::source(move |claims: &Claims| -> Result<String, TokenSourceError> {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(format!("token-{n}-cap{}", claims.capability.0))
        });
        let claims = Claims::for_journal(Capability::READ, "a/journal");
        for n in 1..=3 {
            let mut request = tonic::Request::new(());
            auth.authorize(&mut request, &claims).unwrap();
            let sent = request.metadata().get("authorization").expect("attached");
            assert!(sent.is_sensitive());
            assert_eq!(sent.to_str().unwrap(), format!("Bearer token-{n}-cap8"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(format!("{auth:?}"), "Auth::Source(..)");

        let failing = Auth::source(|_: &Claims| -> Result<String, TokenSourceError> {
            Err("expired".into())
        });
        let err = failing.header(&claims).unwrap_err();
        assert!(
            matches!(err, Error::TokenSource(ref e) if e.to_string() == "expired"),
            "{err:?}"
        );
    }

    #[test]
    fn from_lookup_prefers_keys_to_a_token_as_go_does() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = env(&[("BROKER_AUTH_KEYS", "c2VjcmV0"), ("BROKER_AUTH_TOKEN", "t")]);
        assert!(
            matches!(Auth::from_lookup(both).unwrap(), Auth::Keyed(k) if k == [b"secret".to_vec()])
        );
        let token = env(&[("BROKER_AUTH_TOKEN", "t"), ("BROKER_AUTH_KEYS", "")]);
        assert!(matches!(Auth::from_lookup(token).unwrap(), Auth::Bearer(t) if t == "t"));
        assert!(matches!(Auth::from_lookup(env(&[])).unwrap(), Auth::None));
        let bad = env(&[("BROKER_AUTH_KEYS", "not base64!")]);
        let err = Auth::from_lookup(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config(ConfigError::InvalidVariable {
                    variable: "BROKER_AUTH_KEYS",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn keyed_auth_skips_the_no_auth_entry_and_rejects_bad_base64() {
        let Auth::Keyed(keys) = Auth::keyed("AA==, c2VjcmV0\tb3RoZXI=").unwrap() else {
            panic!("expected keyed auth");
        };
        assert_eq!(keys, vec![b"secret".to_vec(), b"other".to_vec()]);
        assert!(matches!(Auth::keyed("AA=="), Err(Error::Auth(_))));
        assert!(matches!(Auth::keyed("not base64!"), Err(Error::Auth(_))));
    }

    #[test]
    fn signed_token_verifies_with_the_key_and_names_the_journal() {
        let claims = Claims::for_journal(Capability::APPEND, "a/journal;meta");
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let token = sign_hs256(b"secret", &claims, now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);

        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .expect("signature verifies");

        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(payload["cap"], 16);
        assert_eq!(payload["exp"], 1_700_003_600u64);
        assert_eq!(payload["sel"]["include"]["labels"][0]["value"], "a/journal");
    }
}
