//! The authorization each RPC needs (docs/protocol.md#claims-and-capabilities).
//!
//! The client decides the claims of every RPC it opens: which capability,
//! over which journals, for how long a signed token should live. Drivers
//! turn the claims into a bearer token (a static token, one signed with a
//! key, or one from the user's token source); that is mechanism, the claims
//! are protocol.

use std::time::Duration;

use gazette_proto::{Label, LabelSelector, LabelSet};

/// Capability bits a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability(pub u32);

impl Capability {
    /// Required by List.
    pub const LIST: Capability = Capability(1 << 1);
    /// Required by Apply.
    pub const APPLY: Capability = Capability(1 << 2);
    /// Required by Read, ListFragments and FragmentStoreHealth.
    pub const READ: Capability = Capability(1 << 3);
    /// Required by Append.
    pub const APPEND: Capability = Capability(1 << 4);
    /// Every capability bit.
    pub const ALL: Capability = Capability(u32::MAX);
}

/// How long a token signed for a journal-scoped or listing call lives.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// How long a token signed for an Apply lives (a short administrative call).
pub const APPLY_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The claims one call needs: its capability, the journals it concerns, and
/// how long a signed token should live.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// Capability bits requested.
    pub capability: Capability,
    /// Journals the token applies to (empty: all).
    pub selector: LabelSelector,
    /// Requested lifetime of a token signed for this call.
    pub lifetime: Duration,
}

impl Claims {
    /// Claims for a call with `capability` over the single journal `journal`
    /// (its `;metadata` suffix removed), living one hour.
    pub fn for_journal(capability: Capability, journal: &str) -> Self {
        let name = journal.split(';').next().unwrap_or_default();
        Claims {
            capability,
            selector: LabelSelector {
                include: Some(LabelSet {
                    labels: vec![Label {
                        name: "name".into(),
                        value: name.into(),
                        prefix: false,
                    }],
                }),
                exclude: None,
            },
            lifetime: TOKEN_LIFETIME,
        }
    }

    /// Claims for a call with `capability` over journals matching `selector`.
    pub fn for_selector(
        capability: Capability,
        selector: LabelSelector,
        lifetime: Duration,
    ) -> Self {
        Claims {
            capability,
            selector,
            lifetime,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_claims_drop_the_metadata_segment() {
        let claims = Claims::for_journal(Capability::READ, "a/journal;meta=1");
        let labels = claims.selector.include.unwrap().labels;
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].value, "a/journal");
        assert_eq!(claims.lifetime, TOKEN_LIFETIME);
    }
}
