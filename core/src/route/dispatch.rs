//! Go's `protocolDispatcher` as a pure machine: member preference,
//! endpoint → dial address, connection states and idle sweeps.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::Instant;

use gazette_proto::{Route, process_spec::Id};

use super::cache::DispatchRouter;
use super::empty_route;
use crate::validate::{ValidationError, endpoint_grpc_addr};

/// What an RPC carries to tell the dispatcher where it should go.
#[derive(Debug, Clone, PartialEq)]
pub enum DispatchHint {
    /// The configured service address (List, Apply, FragmentStoreHealth,
    /// WatchedList).
    Default,
    /// An explicit route and optional member; failures invalidate nothing
    /// (a Reader restarting with the previous stream's header route).
    Route {
        /// The route to choose a member from.
        route: Route,
        /// A member to use as is, if set.
        member: Option<Id>,
    },
    /// An item (journal) whose route came from a router; transport failures
    /// invalidate the item's route.
    Item {
        /// The router key (the request's journal string).
        item: String,
        /// The route the router returned.
        route: Route,
        /// The primary, when the call requires it and the route has one.
        member: Option<Id>,
    },
}

impl DispatchHint {
    /// Go's `WithDispatchItemRoute`: looks `item` up in `router`; with
    /// `require_primary` and a route that has a primary, pins that member.
    pub fn item(
        router: &mut impl DispatchRouter,
        item: &str,
        require_primary: bool,
        now: Instant,
    ) -> Self {
        let route = router.route(item, now);
        let member = usize::try_from(route.primary)
            .ok()
            .filter(|_| require_primary)
            .and_then(|p| route.members.get(p).cloned());
        DispatchHint::Item {
            item: item.to_string(),
            route,
            member,
        }
    }

    /// The route carried (empty for [`DispatchHint::Default`]).
    pub fn route(&self) -> Option<&Route> {
        match self {
            DispatchHint::Default => None,
            DispatchHint::Route { route, .. } | DispatchHint::Item { route, .. } => Some(route),
        }
    }

    /// The explicitly required member, if any.
    pub fn member(&self) -> Option<&Id> {
        match self {
            DispatchHint::Default => None,
            DispatchHint::Route { member, .. } | DispatchHint::Item { member, .. } => {
                member.as_ref()
            }
        }
    }

    /// The router item whose route a transport failure invalidates.
    pub fn item_name(&self) -> Option<&str> {
        match self {
            DispatchHint::Item { item, .. } => Some(item),
            _ => None,
        }
    }
}

/// A connection's state as gRPC reports it. Ordered as Go's
/// `connectivity.State`: Idle < Connecting < Ready < TransientFailure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnState {
    /// Not connected (also: no connection yet).
    Idle,
    /// Connecting.
    Connecting,
    /// Usable.
    Ready,
    /// Failed; reconnecting with backoff.
    TransientFailure,
}

/// Go's member preference (docs/behaviour.md#dispatcher): starting from "unset" (the service
/// address), walk `route.members` in order and keep the candidate when it is
/// strictly preferred: any member beats unset; then local zone beats other
/// zones; then a connection not in TransientFailure beats one in it; then
/// Ready > Connecting > Idle. Ties keep the earlier member. Note that zone is
/// compared before health, as in Go's code.
///
/// `state` reports each member's connection (`Idle` when there is none).
/// Returns the chosen member's index, or `None` for the service address.
pub fn pick_member(
    route: &Route,
    local_zone: &str,
    state: impl Fn(&Id) -> ConnState,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, candidate) in route.members.iter().enumerate() {
        let preferred = match best {
            None => true,
            Some(b) => {
                let current = &route.members[b];
                let (c_zone, b_zone) = (candidate.zone == local_zone, current.zone == local_zone);
                if c_zone != b_zone {
                    c_zone
                } else {
                    let (cs, bs) = (state(candidate), state(current));
                    let (c_ok, b_ok) = (
                        cs < ConnState::TransientFailure,
                        bs < ConnState::TransientFailure,
                    );
                    if c_ok != b_ok { c_ok } else { cs > bs }
                }
            }
        };
        if preferred {
            best = Some(i);
        }
    }
    best
}

/// Why a member cannot be dialled (Go panics in these cases, quirk 28;
/// docs/go-differences.md#d33).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The member is not in the route.
    #[error("member {zone}/{suffix} is not in the route")]
    MemberNotInRoute {
        /// Member zone.
        zone: String,
        /// Member suffix.
        suffix: String,
    },
    /// The route carries no endpoints.
    #[error("route has no endpoints for member {zone}/{suffix}")]
    NoEndpoints {
        /// Member zone.
        zone: String,
        /// Member suffix.
        suffix: String,
    },
    /// The member's endpoint is the empty string.
    #[error("member {zone}/{suffix} has an empty endpoint")]
    EmptyEndpoint {
        /// Member zone.
        zone: String,
        /// Member suffix.
        suffix: String,
    },
    /// The member's endpoint is not a valid URL (why: its `source()`).
    #[error("invalid endpoint {endpoint:?}")]
    InvalidEndpoint {
        /// The endpoint text.
        endpoint: String,
        /// Why it is invalid.
        source: ValidationError,
    },
}

/// A member together with where to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberAddress {
    /// The member.
    pub id: Id,
    /// Its advertised endpoint URL (TLS iff the scheme is `https`).
    pub endpoint: String,
    /// The address to dial (Go's `Endpoint.GRPCAddr`).
    pub dial_addr: String,
}

/// Go's `Endpoint.GRPCAddr` (docs/behaviour.md#dial-addresses): `unix://` plus the path; `https`
/// without port → `host:443`; `http` without port → `host:80`; otherwise
/// `host:port`.
pub fn dial_address(endpoint: &str) -> Result<String, ValidationError> {
    endpoint_grpc_addr(endpoint)
}

/// Finds `id` in `route` and derives its dial address. Where Go panics
/// (member absent, no endpoints, empty endpoint) this returns a typed error;
/// the caller should fall back to the service address.
pub fn member_address(route: &Route, id: &Id) -> Result<MemberAddress, DispatchError> {
    let names = || (id.zone.clone(), id.suffix.clone());
    let Some(index) = route.members.iter().position(|m| m == id) else {
        let (zone, suffix) = names();
        return Err(DispatchError::MemberNotInRoute { zone, suffix });
    };
    let Some(endpoint) = route.endpoints.get(index) else {
        let (zone, suffix) = names();
        return Err(DispatchError::NoEndpoints { zone, suffix });
    };
    if endpoint.is_empty() {
        let (zone, suffix) = names();
        return Err(DispatchError::EmptyEndpoint { zone, suffix });
    }
    let dial_addr = dial_address(endpoint).map_err(|source| DispatchError::InvalidEndpoint {
        endpoint: endpoint.clone(),
        source,
    })?;
    Ok(MemberAddress {
        id: id.clone(),
        endpoint: endpoint.clone(),
        dial_addr,
    })
}

/// Where an RPC meant for `member` of `route` goes, given which endpoints
/// the driver's transport can dial (`dialable`, a fact of the driver, e.g.
/// "only `http` and `https` URLs it can parse").
///
/// The member when its endpoint is usable; otherwise the service address
/// ([`DispatchTarget::Default`]), which proxies to the member: that covers
/// a member absent from the route, no or an empty endpoint, an endpoint
/// that is not a valid URL, and one the transport cannot dial (a `unix://`
/// socket, an unknown scheme). Go panics or dials in these cases; failing
/// the RPC instead would repeat for as long as the route is cached
/// (docs/go-differences.md#d33).
pub fn member_target(
    route: &Route,
    member: &Id,
    dialable: impl Fn(&str) -> bool,
) -> DispatchTarget {
    match member_address(route, member) {
        Ok(address) if dialable(&address.endpoint) => DispatchTarget::Member(address),
        _ => DispatchTarget::Default,
    }
}

/// Where an RPC goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DispatchTarget {
    /// The configured service address.
    Default,
    /// A route member.
    Member(MemberAddress),
}

/// Identifies one connection the driver keeps. Ordered (the service
/// address first, then members by zone and suffix) so that everything the
/// dispatcher returns comes out in a deterministic order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnKey {
    /// The connection to the service address.
    Default,
    /// The connection to one member.
    Member(Id),
}

impl Ord for ConnKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (ConnKey::Default, ConnKey::Default) => Ordering::Equal,
            (ConnKey::Default, ConnKey::Member(_)) => Ordering::Less,
            (ConnKey::Member(_), ConnKey::Default) => Ordering::Greater,
            (ConnKey::Member(a), ConnKey::Member(b)) => {
                (&a.zone, &a.suffix).cmp(&(&b.zone, &b.suffix))
            }
        }
    }
}

impl PartialOrd for ConnKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What the driver must do for a pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickOutcome {
    /// Send the RPC on this (Ready) connection.
    Use(ConnKey),
    /// Open a new connection to `target`, then wait for a state change of
    /// `key` and pick again.
    Connect {
        /// The new connection's key.
        key: ConnKey,
        /// Where it dials.
        target: DispatchTarget,
    },
    /// Wait for a state change of this connection, then pick again.
    Wait(ConnKey),
    /// The chosen member's connection has failed: fail-fast RPCs fail with
    /// gRPC `UNAVAILABLE`, wait-for-ready RPCs wait and pick again.
    /// `invalidate` names the item whose cached route must be dropped.
    TransientFailure {
        /// Router item to invalidate, if the hint carried one.
        invalidate: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Conn {
    state: ConnState,
    mark: u8,
}

/// Go's dispatcher bookkeeping: one connection per member (plus the service
/// address), the member preference of [`pick_member`], and idle sweeps.
/// The driver owns the actual connections, reports their state changes with
/// [`Dispatcher::on_state`], and calls [`Dispatcher::sweep`] every 30 s.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    zone: String,
    conns: BTreeMap<ConnKey, Conn>,
    sweep_mark: u8,
}

impl Dispatcher {
    /// A dispatcher for a client in `local_zone`.
    pub fn new(local_zone: impl Into<String>) -> Self {
        Dispatcher {
            zone: local_zone.into(),
            conns: BTreeMap::new(),
            sweep_mark: 1,
        }
    }

    /// The state of a connection, if it exists.
    pub fn state(&self, key: &ConnKey) -> Option<ConnState> {
        self.conns.get(key).map(|c| c.state)
    }

    /// Chooses the connection for an RPC carrying `hint`. An explicit member
    /// is used as is; otherwise [`pick_member`] decides. A member that cannot
    /// be dialled (quirk 28) falls back to the service address.
    pub fn pick(&mut self, hint: &DispatchHint) -> PickOutcome {
        let empty = empty_route();
        let route = hint.route().unwrap_or(&empty);
        let member = match hint.member() {
            Some(id) => Some(id.clone()),
            None => pick_member(route, &self.zone, |id| {
                self.state(&ConnKey::Member(id.clone()))
                    .unwrap_or(ConnState::Idle)
            })
            .map(|i| route.members[i].clone()),
        };
        let (key, target) = match member.map(|id| member_address(route, &id)) {
            Some(Ok(addr)) => (
                ConnKey::Member(addr.id.clone()),
                DispatchTarget::Member(addr),
            ),
            Some(Err(_)) | None => (ConnKey::Default, DispatchTarget::Default),
        };

        let mark = self.sweep_mark;
        let Some(conn) = self.conns.get_mut(&key) else {
            self.conns.insert(
                key.clone(),
                Conn {
                    state: ConnState::Idle,
                    mark,
                },
            );
            return PickOutcome::Connect { key, target };
        };
        conn.mark = mark;
        match conn.state {
            ConnState::Idle | ConnState::Connecting => PickOutcome::Wait(key),
            ConnState::TransientFailure if key == ConnKey::Default => PickOutcome::Wait(key),
            ConnState::TransientFailure => PickOutcome::TransientFailure {
                invalidate: hint.item_name().map(str::to_string),
            },
            ConnState::Ready => PickOutcome::Use(key),
        }
    }

    /// Records a state change of a connection (`None` = shut down, which
    /// forgets it). Once failed, a connection ignores Idle/Connecting reports
    /// until it is Ready again. Returns true when the driver must ask the
    /// connection to reconnect (on every Idle report). Blocked picks should
    /// be retried after any call.
    pub fn on_state(&mut self, key: &ConnKey, state: Option<ConnState>) -> bool {
        let Some(conn) = self.conns.get_mut(key) else {
            return false;
        };
        match state {
            None => {
                self.conns.remove(key);
                false
            }
            Some(s @ (ConnState::Idle | ConnState::Connecting))
                if conn.state == ConnState::TransientFailure =>
            {
                s == ConnState::Idle
            }
            Some(s) => {
                conn.state = s;
                s == ConnState::Idle
            }
        }
    }

    /// The periodic sweep: forgets and returns every member connection not
    /// used since the previous sweep (the driver closes them), in
    /// [`ConnKey`] order. A connection
    /// is thus closed 30–60 s after its last use with a 30 s period.
    pub fn sweep(&mut self) -> Vec<ConnKey> {
        let mark = self.sweep_mark;
        let idle: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(k, c)| c.mark != mark && **k != ConnKey::Default)
            .map(|(k, _)| k.clone())
            .collect();
        for key in &idle {
            self.conns.remove(key);
        }
        self.sweep_mark = self.sweep_mark.wrapping_add(1);
        idle
    }

    /// An RPC picked with `hint` finished; `unavailable` is whether it ended
    /// with gRPC `UNAVAILABLE`. Returns the item whose route to invalidate.
    pub fn on_rpc_done<'h>(&self, hint: &'h DispatchHint, unavailable: bool) -> Option<&'h str> {
        hint.item_name().filter(|_| unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_that_cannot_be_dialled_fall_back_to_the_service_address() {
        let id = |suffix: &str| Id {
            zone: "z".into(),
            suffix: suffix.into(),
        };
        let route = Route {
            members: vec![id("http"), id("unix"), id("empty"), id("bad")],
            primary: 0,
            endpoints: vec![
                "http://broker:8080".into(),
                "unix://localhost/tmp/broker.sock".into(),
                String::new(),
                "::not a url".into(),
            ],
        };
        let http_only = |endpoint: &str| endpoint.starts_with("http://");
        match member_target(&route, &id("http"), http_only) {
            DispatchTarget::Member(address) => {
                assert_eq!(address.endpoint, "http://broker:8080");
                assert_eq!(address.dial_addr, "broker:8080");
            }
            other => panic!("{other:?}"),
        }
        for suffix in ["unix", "empty", "bad", "absent"] {
            assert_eq!(
                member_target(&route, &id(suffix), http_only),
                DispatchTarget::Default,
                "{suffix}"
            );
        }
        // A transport that dials unix sockets gets the member.
        assert!(matches!(
            member_target(&route, &id("unix"), |_| true),
            DispatchTarget::Member(_)
        ));
    }
}
