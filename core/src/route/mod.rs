//! Routing: where to send each RPC (docs/behaviour.md#dispatch-hints, #dispatcher and #route-cache,
//! docs/protocol.md#routing-and-proxying).
//!
//! * [`RouteCache`]: journal → [`Route`] with LRU capacity and a TTL; time
//!   comes in as `now: Instant`. Implements [`DispatchRouter`].
//! * [`DispatchHint`]: what each call carries (default service address, an
//!   explicit route, or an item looked up in a router).
//! * [`pick_member`] and [`Dispatcher`]: Go's `protocolDispatcher` member
//!   preference and connection bookkeeping as a pure machine; the driver owns
//!   the connections and reports their states.
//! * [`member_address`] / [`dial_address`]: endpoint → dial address, with a
//!   typed [`DispatchError`] where Go panics (quirk 28); [`member_target`]
//!   falls back to the service address for members that cannot be dialled
//!   (docs/go-differences.md#d33).
//! * [`route_update_from_header`] and [`redirect_hint`]: learning routes
//!   from response headers, and adopting the route a broker returns with
//!   `NOT_JOURNAL_BROKER` / `NOT_JOURNAL_PRIMARY_BROKER`.

mod cache;
mod dispatch;
mod learn;

pub use cache::{DispatchRouter, NoopRouter, RouteCache};
pub use dispatch::{
    ConnKey, ConnState, DispatchError, DispatchHint, DispatchTarget, Dispatcher, MemberAddress,
    PickOutcome, dial_address, member_address, member_target, pick_member,
};
pub use learn::{RouteUpdate, redirect_hint, route_update_from_header};

use gazette_proto::Route;

/// The route meaning "unknown": no members, primary −1.
pub fn empty_route() -> Route {
    Route {
        members: Vec::new(),
        primary: -1,
        endpoints: Vec::new(),
    }
}

/// Go's `Route.Equivalent`: same primary and members (endpoints ignored).
pub fn routes_equivalent(a: &Route, b: &Route) -> bool {
    a.primary == b.primary && a.members == b.members
}
