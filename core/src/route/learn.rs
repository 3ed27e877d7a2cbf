//! Learning routes from responses.

use gazette_proto::{Header, Route, Status};

use super::dispatch::DispatchHint;
use crate::status::Operation;

/// What to do with the cached route of a journal: the one shape every
/// machine uses to ask its driver for a route-cache change (a response
/// header's route, or the invalidation after an unavailable broker).
#[derive(Debug, Clone, PartialEq)]
pub enum RouteUpdate {
    /// Store this route (it has members).
    Store(Route),
    /// Drop the cached route (the header's route has no members, or the
    /// routed broker was unreachable).
    Invalidate,
}

impl RouteUpdate {
    /// The update a response's route asks for: store a route with members,
    /// invalidate on a missing or empty one.
    pub fn new(route: Option<Route>) -> Self {
        match route {
            Some(route) if !route.members.is_empty() => RouteUpdate::Store(route),
            _ => RouteUpdate::Invalidate,
        }
    }

    /// The route to store, or `None` to invalidate: the argument of
    /// [`DispatchRouter::update_route`](super::DispatchRouter::update_route).
    pub fn into_route(self) -> Option<Route> {
        match self {
            RouteUpdate::Store(route) => Some(route),
            RouteUpdate::Invalidate => None,
        }
    }
}

/// Go's rule (Reader: every frame with a header; Appender: every validated
/// response): a response header's route replaces the cached one, and an
/// empty route invalidates it. Without a header, nothing changes.
pub fn route_update_from_header(header: Option<&Header>) -> Option<RouteUpdate> {
    Some(RouteUpdate::new(header?.route.clone()))
}

/// After `NOT_JOURNAL_BROKER` (Read, ListFragments) or
/// `NOT_JOURNAL_PRIMARY_BROKER` (Append) — what a broker answers to a
/// `do_not_proxy` request that reached the wrong member — the broker's
/// header carries its current route. Returns the hint to retry with: that
/// route, pinned to its primary for Append. `None` when the status is
/// another one, or the route is empty (retry through the service address).
pub fn redirect_hint(op: Operation, status: i32, header: Option<&Header>) -> Option<DispatchHint> {
    let redirects = match op {
        Operation::Read | Operation::ListFragments => status == Status::NotJournalBroker as i32,
        Operation::Append => status == Status::NotJournalPrimaryBroker as i32,
        _ => false,
    };
    if !redirects {
        return None;
    }
    let route = header?.route.clone().filter(|r| !r.members.is_empty())?;
    let member = if op == Operation::Append {
        Some(
            route
                .members
                .get(usize::try_from(route.primary).ok()?)?
                .clone(),
        )
    } else {
        None
    };
    Some(DispatchHint::Route { route, member })
}
