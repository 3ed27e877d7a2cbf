//! The route cache (Go's `RouteCache`) and the router interface.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use gazette_proto::Route;
use lru::LruCache;

use super::empty_route;

/// Something that knows routes of items (journals) and learns new ones
/// (Go's `DispatchRouter`). `now` is the caller's clock.
pub trait DispatchRouter {
    /// The route of `item`, or the empty route (primary −1) when unknown.
    fn route(&mut self, item: &str, now: Instant) -> Route;
    /// Records the route of `item`; `None` or a route without members
    /// invalidates it.
    fn update_route(&mut self, item: &str, route: Option<&Route>, now: Instant);
    /// True for a router that never knows any route.
    fn is_noop_router(&self) -> bool;
}

/// A router that knows nothing and learns nothing (Go's `NoopDispatchRouter`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopRouter;

impl DispatchRouter for NoopRouter {
    fn route(&mut self, _item: &str, _now: Instant) -> Route {
        empty_route()
    }
    fn update_route(&mut self, _item: &str, _route: Option<&Route>, _now: Instant) {}
    fn is_noop_router(&self) -> bool {
        true
    }
}

#[derive(Debug, Clone)]
struct CachedRoute {
    route: Route,
    stored_at: Instant,
}

/// An LRU cache of journal routes with a time-to-live (Go's `RouteCache`).
///
/// * [`update_route`](DispatchRouter::update_route) with `None` or an
///   empty route removes the entry; otherwise it stores a copy stamped with
///   `now`, marking it most recently used and evicting the least recently
///   used entry when over capacity. Routes without a primary are cached.
/// * [`route`](DispatchRouter::route) marks a hit most recently used; an
///   entry stored more than `ttl` before `now` (strictly) is removed and
///   reported as a miss.
#[derive(Debug)]
pub struct RouteCache {
    entries: LruCache<String, CachedRoute>,
    ttl: Duration,
}

impl RouteCache {
    /// A cache of at most `capacity` routes, each valid for `ttl`.
    pub fn new(capacity: NonZeroUsize, ttl: Duration) -> Self {
        RouteCache {
            entries: LruCache::new(capacity),
            ttl,
        }
    }

    /// The cached route of `item`, if present and fresh at `now`.
    pub fn get(&mut self, item: &str, now: Instant) -> Option<&Route> {
        let expired = match self.entries.get(item) {
            None => return None,
            Some(entry) => entry
                .stored_at
                .checked_add(self.ttl)
                .is_some_and(|expiry| expiry < now),
        };
        if expired {
            self.entries.pop(item);
            return None;
        }
        self.entries.peek(item).map(|e| &e.route)
    }

    /// Removes the route of `item`.
    pub fn invalidate(&mut self, item: &str) {
        self.entries.pop(item);
    }

    /// Number of cached entries (fresh or not yet found stale).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The configured time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl DispatchRouter for RouteCache {
    fn route(&mut self, item: &str, now: Instant) -> Route {
        self.get(item, now).cloned().unwrap_or_else(empty_route)
    }

    fn update_route(&mut self, item: &str, route: Option<&Route>, now: Instant) {
        match route {
            Some(route) if !route.members.is_empty() => {
                self.entries.put(
                    item.to_string(),
                    CachedRoute {
                        route: route.clone(),
                        stored_at: now,
                    },
                );
            }
            _ => {
                self.entries.pop(item);
            }
        }
    }

    fn is_noop_router(&self) -> bool {
        false
    }
}
