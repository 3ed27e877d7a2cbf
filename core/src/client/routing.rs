//! Where each RPC goes: the route cache, member health, zone preference,
//! fail-fast, idle sweeps and the fallback to the service address
//! (docs/behaviour.md#dispatcher, docs/architecture.md#the-core-client).

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use gazette_proto::Route;
use gazette_proto::process_spec::Id;

use super::rpc::Target;
use crate::route::{
    ConnState, DispatchHint, DispatchRouter, DispatchTarget, RouteCache, empty_route,
    member_target, pick_member,
};

/// How often idle member connections are swept (Go's dispatcher: 30 s).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// How long an RPC must have made no progress before the client probes
/// the route of its journal (docs/architecture.md#recovering-from-a-frozen-broker).
pub const PROBE_AFTER: Duration = Duration::from_secs(2);

/// The longest wait between two probes of a journal whose RPC stays
/// stalled (the wait doubles from [`PROBE_AFTER`]).
pub const PROBE_INTERVAL_MAX: Duration = Duration::from_secs(30);

/// How long an RPC must have made no progress before a route that moved
/// away from its broker cancels it (a healthy RPC finishes sooner).
pub const MOVE_STALL: Duration = Duration::from_secs(1);

/// How long after an RPC to a member failed as unavailable an RPC that
/// must go to that member (an append to the primary) fails at once instead
/// of dialling it again (gRPC's first reconnect backoff).
pub const FAIL_FAST_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
struct Member {
    /// When its last RPC failed as unavailable, until one succeeds.
    failed_at: Option<Instant>,
    /// Whether an RPC picked it since the last sweep.
    used: bool,
}

/// Why a pick failed fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailFast {
    pub(crate) endpoint: String,
}

/// The routing state of one client.
#[derive(Debug)]
pub(crate) struct Router {
    cache: Option<RouteCache>,
    zone: String,
    route_directly: bool,
    schemes: Vec<String>,
    members: BTreeMap<String, Member>,
    next_sweep: Option<Instant>,
    /// Routes with members learned since the client last looked, in order.
    learned: Vec<(String, Route)>,
}

impl Router {
    pub(crate) fn new(
        cache: Option<(NonZeroUsize, Duration)>,
        zone: String,
        route_directly: bool,
        schemes: Vec<String>,
    ) -> Self {
        Router {
            cache: cache.map(|(capacity, ttl)| RouteCache::new(capacity, ttl)),
            zone,
            route_directly,
            schemes,
            members: BTreeMap::new(),
            next_sweep: None,
            learned: Vec::new(),
        }
    }

    /// The routes with members learned since the last call, in order.
    pub(crate) fn take_learned(&mut self) -> Vec<(String, Route)> {
        std::mem::take(&mut self.learned)
    }

    /// Where the `n`th probe of a journal whose RPC to `avoid` stalls goes:
    /// in turn, the other dialable, healthy members of `route` and the
    /// service address (any of them may be the frozen one).
    pub(crate) fn probe_target(&self, route: &Route, avoid: &Target, n: u32) -> Target {
        let mut candidates: Vec<Target> = if self.route_directly {
            route
                .endpoints
                .iter()
                .filter(|e| !matches!(avoid, Target::Member(a) if a == *e))
                .filter(|e| self.dialable(e) && !self.is_failed(e))
                .map(|e| Target::Member(e.clone()))
                .collect()
        } else {
            Vec::new()
        };
        candidates.push(Target::Service);
        candidates.swap_remove(n as usize % candidates.len())
    }

    /// The cached route of `journal` (empty when unknown or uncached).
    pub(crate) fn route(&mut self, journal: &str, now: Instant) -> Route {
        match &mut self.cache {
            Some(cache) => cache.route(journal, now),
            None => empty_route(),
        }
    }

    /// Caches (`Some` with members) or invalidates the route of `journal`.
    pub(crate) fn update_route(&mut self, journal: &str, route: Option<&Route>, now: Instant) {
        if let Some(route) = route.filter(|r| !r.members.is_empty()) {
            self.learned.push((journal.to_string(), route.clone()));
        }
        if let Some(cache) = &mut self.cache {
            cache.update_route(journal, route, now);
        }
    }

    /// The hint of an RPC about `journal`: its cached route, pinned to the
    /// primary when `require_primary`.
    pub(crate) fn journal_hint(
        &mut self,
        journal: &str,
        require_primary: bool,
        now: Instant,
    ) -> DispatchHint {
        match &mut self.cache {
            Some(cache) => DispatchHint::item(cache, journal, require_primary, now),
            None => DispatchHint::Default,
        }
    }

    fn dialable(&self, endpoint: &str) -> bool {
        let Some((scheme, rest)) = endpoint.split_once("://") else {
            return false;
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        self.schemes.iter().any(|s| s == scheme)
            && !host.is_empty()
            && !host.starts_with(':')
            && !endpoint.contains(char::is_whitespace)
    }

    fn endpoint_of<'r>(route: &'r Route, id: &Id) -> Option<&'r str> {
        let index = route.members.iter().position(|m| m == id)?;
        route.endpoints.get(index).map(String::as_str)
    }

    /// Chooses the target of an RPC carrying `hint`.
    pub(crate) fn pick(&mut self, hint: &DispatchHint, now: Instant) -> Result<Target, FailFast> {
        if !self.route_directly {
            return Ok(Target::Service);
        }
        let Some(route) = hint.route() else {
            return Ok(Target::Service);
        };
        let member = match hint.member() {
            Some(member) => {
                if let Some(endpoint) = Self::endpoint_of(route, member)
                    && let Some(failed_at) = self.members.get(endpoint).and_then(|m| m.failed_at)
                    && now.saturating_duration_since(failed_at) < FAIL_FAST_WINDOW
                {
                    return Err(FailFast {
                        endpoint: endpoint.to_string(),
                    });
                }
                member.clone()
            }
            None => {
                let state = |id: &Id| match Self::endpoint_of(route, id)
                    .and_then(|e| self.members.get(e))
                {
                    Some(m) if m.failed_at.is_some() => ConnState::TransientFailure,
                    _ => ConnState::Idle,
                };
                match pick_member(route, &self.zone, state) {
                    Some(index) => route.members[index].clone(),
                    None => return Ok(Target::Service),
                }
            }
        };
        match member_target(route, &member, |endpoint| self.dialable(endpoint)) {
            DispatchTarget::Member(address) => {
                self.members
                    .entry(address.endpoint.clone())
                    .or_default()
                    .used = true;
                if self.next_sweep.is_none() {
                    self.next_sweep = Some(now + SWEEP_INTERVAL);
                }
                Ok(Target::Member(address.endpoint))
            }
            DispatchTarget::Default => Ok(Target::Service),
        }
    }

    /// An RPC to `target` reached its broker.
    pub(crate) fn on_reached(&mut self, target: &Target) {
        if let Target::Member(endpoint) = target
            && let Some(member) = self.members.get_mut(endpoint)
        {
            member.failed_at = None;
        }
    }

    /// An RPC to `target` failed as unavailable.
    pub(crate) fn on_unavailable(&mut self, target: &Target, now: Instant) {
        if let Target::Member(endpoint) = target {
            self.members.entry(endpoint.clone()).or_default().failed_at = Some(now);
        }
    }

    /// Whether the member at `endpoint` is considered failed.
    pub(crate) fn is_failed(&self, endpoint: &str) -> bool {
        self.members
            .get(endpoint)
            .is_some_and(|m| m.failed_at.is_some())
    }

    /// When the next sweep is due.
    pub(crate) fn next_sweep(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// Runs the sweep if due: returns the endpoints no RPC used since the
    /// previous sweep, in endpoint order, and forgets them.
    pub(crate) fn sweep(&mut self, now: Instant, in_use: impl Fn(&str) -> bool) -> Vec<String> {
        match self.next_sweep {
            Some(at) if at <= now => {}
            _ => return Vec::new(),
        }
        let idle: Vec<String> = self
            .members
            .iter()
            .filter(|(endpoint, m)| !m.used && !in_use(endpoint))
            .map(|(endpoint, _)| endpoint.clone())
            .collect();
        for endpoint in &idle {
            self.members.remove(endpoint);
        }
        for member in self.members.values_mut() {
            member.used = false;
        }
        self.next_sweep = (!self.members.is_empty()).then(|| now + SWEEP_INTERVAL);
        idle
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn id(zone: &str, suffix: &str) -> Id {
        Id {
            zone: zone.into(),
            suffix: suffix.into(),
        }
    }

    fn route() -> Route {
        Route {
            members: vec![id("a", "one"), id("b", "two")],
            primary: 1,
            endpoints: vec!["http://one:1".into(), "http://two:2".into()],
        }
    }

    fn router(zone: &str) -> Router {
        Router::new(
            Some((NonZeroUsize::new(8).unwrap(), Duration::from_secs(60))),
            zone.into(),
            true,
            vec!["http".into(), "https".into()],
        )
    }

    #[test]
    fn appends_go_to_the_primary_and_reads_to_the_local_zone() {
        let now = Instant::now();
        let mut r = router("a");
        let hint = r.journal_hint("j", false, now);
        assert_eq!(r.pick(&hint, now), Ok(Target::Service), "unknown route");
        r.update_route("j", Some(&route()), now);
        let primary = r.journal_hint("j", true, now);
        assert_eq!(
            r.pick(&primary, now),
            Ok(Target::Member("http://two:2".into()))
        );
        let read = r.journal_hint("j", false, now);
        assert_eq!(
            r.pick(&read, now),
            Ok(Target::Member("http://one:1".into()))
        );
        r.update_route("j", None, now);
        let gone = r.journal_hint("j", true, now);
        assert_eq!(r.pick(&gone, now), Ok(Target::Service), "invalidated");
    }

    #[test]
    fn an_unavailable_member_is_avoided_until_it_answers() {
        let now = Instant::now();
        let mut r = router("c");
        r.update_route("j", Some(&route()), now);
        let hint = r.journal_hint("j", false, now);
        let one = Target::Member("http://one:1".into());
        assert_eq!(r.pick(&hint, now), Ok(one.clone()));
        r.on_unavailable(&one, now);
        assert_eq!(
            r.pick(&hint, now),
            Ok(Target::Member("http://two:2".into()))
        );
        r.on_reached(&one);
        assert_eq!(r.pick(&hint, now), Ok(one));
    }

    #[test]
    fn a_pinned_member_that_just_failed_fails_fast_then_is_dialled_again() {
        let now = Instant::now();
        let mut r = router("a");
        r.update_route("j", Some(&route()), now);
        let primary = r.journal_hint("j", true, now);
        let two = Target::Member("http://two:2".into());
        r.on_unavailable(&two, now);
        assert!(r.pick(&primary, now).is_err());
        assert_eq!(r.pick(&primary, now + FAIL_FAST_WINDOW), Ok(two));
    }

    #[test]
    fn members_this_transport_cannot_dial_are_reached_through_the_service_address() {
        let now = Instant::now();
        let mut r = router("a");
        for endpoint in [
            "unix://localhost/tmp/b.sock",
            "ftp://two:2",
            "http://two:2/a b",
            "",
        ] {
            let mut route = route();
            route.endpoints[1] = endpoint.into();
            r.update_route("j", Some(&route), now);
            let hint = r.journal_hint("j", true, now);
            assert_eq!(r.pick(&hint, now), Ok(Target::Service), "{endpoint:?}");
        }
    }

    #[test]
    fn without_a_cache_or_direct_routing_everything_goes_to_the_service() {
        let now = Instant::now();
        let mut uncached = Router::new(None, "a".into(), true, vec!["http".into()]);
        uncached.update_route("j", Some(&route()), now);
        let hint = uncached.journal_hint("j", true, now);
        assert_eq!(uncached.pick(&hint, now), Ok(Target::Service));
        let mut proxied = router("a");
        proxied.route_directly = false;
        let hint = DispatchHint::Route {
            route: route(),
            member: None,
        };
        assert_eq!(proxied.pick(&hint, now), Ok(Target::Service));
    }

    #[test]
    fn probes_take_the_other_members_and_the_service_address_in_turn() {
        let r = router("a");
        let avoid = Target::Member("http://two:2".into());
        let one = Target::Member("http://one:1".into());
        assert_eq!(r.probe_target(&route(), &avoid, 0), one);
        assert_eq!(r.probe_target(&route(), &avoid, 1), Target::Service);
        assert_eq!(r.probe_target(&route(), &avoid, 2), one);
        let mut r = r;
        r.on_unavailable(&one, Instant::now());
        assert_eq!(r.probe_target(&route(), &avoid, 0), Target::Service);
    }

    #[test]
    fn members_unused_for_a_sweep_interval_are_disconnected_in_order() {
        let now = Instant::now();
        let mut r = router("a");
        r.update_route("j", Some(&route()), now);
        let read = r.journal_hint("j", false, now);
        let primary = r.journal_hint("j", true, now);
        r.pick(&read, now).unwrap();
        r.pick(&primary, now).unwrap();
        assert_eq!(r.next_sweep(), Some(now + SWEEP_INTERVAL));
        assert!(r.sweep(now, |_| false).is_empty(), "not due");
        // Both were used in the first interval: kept.
        assert!(r.sweep(now + SWEEP_INTERVAL, |_| false).is_empty());
        r.pick(&read, now + SWEEP_INTERVAL).unwrap();
        let later = now + SWEEP_INTERVAL * 2;
        assert_eq!(r.sweep(later, |_| false), vec!["http://two:2".to_string()]);
        // A member with an open RPC is kept.
        assert!(
            r.sweep(later + SWEEP_INTERVAL, |e| e == "http://one:1")
                .is_empty()
        );
    }
}
