//! Routing: RouteCache (docs/behaviour.md#route-cache-checklist), dispatcher member
//! preference (docs/behaviour.md#dispatcher), dial addresses (#dial-addresses) and route learning.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use gazette_core::proto::{Header, Route, Status, process_spec::Id};
use gazette_core::route::*;
use gazette_core::status::Operation;
use proptest::prelude::*;

fn id(zone: &str, suffix: &str) -> Id {
    Id {
        zone: zone.into(),
        suffix: suffix.into(),
    }
}

fn route(members: &[(&str, &str)], primary: i32) -> Route {
    Route {
        members: members.iter().map(|(z, s)| id(z, s)).collect(),
        primary,
        endpoints: members
            .iter()
            .map(|(z, s)| format!("http://{s}.{z}:8080"))
            .collect(),
    }
}

/// Go's `route_cache_test.go`, step by step on an injected clock.
#[test]
fn route_cache_lru_eviction_and_ttl() {
    let t0 = Instant::now();
    let mut rc = RouteCache::new(NonZeroUsize::new(3).unwrap(), Duration::from_secs(60));
    for (i, item) in ["A", "B", "C", "D"].iter().enumerate() {
        let r = route(&[("zone", &format!("mem{i}"))], 0);
        rc.update_route(item, Some(&r), t0);
    }
    assert_eq!(rc.len(), 3);
    assert_eq!(rc.route("D", t0).members[0].suffix, "mem3");
    assert_eq!(rc.route("A", t0), empty_route(), "A was evicted");
    assert_eq!(rc.route("A", t0).primary, -1);

    rc.update_route("C", None, t0);
    assert_eq!(rc.route("C", t0), empty_route());
    rc.update_route("C", Some(&route(&[("zone", "again")], 0)), t0);
    rc.update_route("C", Some(&Route::default()), t0);
    assert_eq!(rc.route("C", t0), empty_route(), "empty route invalidates");

    let t31 = t0 + Duration::from_secs(31);
    rc.update_route("B", Some(&route(&[("zone", "mem1b")], 0)), t31);
    let t61 = t31 + Duration::from_secs(30);
    assert_eq!(rc.route("B", t61).members[0].suffix, "mem1b");
    assert_eq!(
        rc.route("D", t61),
        empty_route(),
        "D expired (stored 61s ago)"
    );
    assert_eq!(rc.len(), 1);
}

#[test]
fn route_cache_ttl_boundary_is_inclusive() {
    let t0 = Instant::now();
    let mut rc = RouteCache::new(NonZeroUsize::new(2).unwrap(), Duration::from_secs(60));
    rc.update_route("j", Some(&route(&[("a", "broker")], -1)), t0);
    assert_eq!(
        rc.route("j", t0 + Duration::from_secs(60)).primary,
        -1,
        "a route without primary is cached"
    );
    assert_eq!(rc.route("j", t0 + Duration::from_secs(60)).members.len(), 1);
    assert!(
        rc.get("j", t0 + Duration::from_secs(60) + Duration::from_nanos(1))
            .is_none()
    );
}

#[test]
fn noop_router_knows_nothing() {
    let mut r = NoopRouter;
    r.update_route("j", Some(&route(&[("a", "broker")], 0)), Instant::now());
    assert_eq!(r.route("j", Instant::now()), empty_route());
    assert!(r.is_noop_router());
    assert!(!RouteCache::new(NonZeroUsize::MIN, Duration::ZERO).is_noop_router());
}

#[test]
fn item_hint_pins_primary_only_when_required() {
    let now = Instant::now();
    let mut rc = RouteCache::new(NonZeroUsize::new(4).unwrap(), Duration::from_secs(60));
    let r = route(&[("a", "one1"), ("b", "two2")], 1);
    rc.update_route("j", Some(&r), now);
    let append = DispatchHint::item(&mut rc, "j", true, now);
    assert_eq!(append.member(), Some(&id("b", "two2")));
    let read = DispatchHint::item(&mut rc, "j", false, now);
    assert_eq!(read.member(), None);
    assert_eq!(read.item_name(), Some("j"));
    rc.update_route("k", Some(&route(&[("a", "one1")], -1)), now);
    assert_eq!(DispatchHint::item(&mut rc, "k", true, now).member(), None);
    assert_eq!(
        DispatchHint::item(&mut rc, "missing", true, now).route(),
        Some(&empty_route())
    );
}

#[test]
fn dispatcher_prefers_local_zone_before_connection_health() {
    let r = route(&[("a", "aaaa"), ("b", "bbbb"), ("c", "cccc")], 0);
    // Local zone wins even when its connection failed.
    let pick = pick_member(&r, "b", |m| {
        if m.zone == "b" {
            ConnState::TransientFailure
        } else {
            ConnState::Ready
        }
    });
    assert_eq!(pick, Some(1));
    // No local member: a healthy connection beats a failed one.
    let pick = pick_member(&r, "z", |m| {
        if m.zone == "a" {
            ConnState::TransientFailure
        } else {
            ConnState::Idle
        }
    });
    assert_eq!(pick, Some(1));
    // Then Ready > Connecting > Idle; ties keep the earlier member.
    let pick = pick_member(&r, "z", |m| match m.zone.as_str() {
        "a" => ConnState::Idle,
        "b" => ConnState::Connecting,
        _ => ConnState::Ready,
    });
    assert_eq!(pick, Some(2));
    assert_eq!(pick_member(&r, "z", |_| ConnState::Idle), Some(0));
    assert_eq!(pick_member(&empty_route(), "a", |_| ConnState::Ready), None);
}

#[test]
fn dispatcher_pick_connects_waits_uses_and_invalidates() {
    let now = Instant::now();
    let mut rc = RouteCache::new(NonZeroUsize::new(4).unwrap(), Duration::from_secs(60));
    rc.update_route("j", Some(&route(&[("a", "aaaa"), ("b", "bbbb")], 0)), now);
    let hint = DispatchHint::item(&mut rc, "j", false, now);
    let mut d = Dispatcher::new("b");

    let PickOutcome::Connect { key, target } = d.pick(&hint) else {
        panic!("expected a new connection");
    };
    assert_eq!(key, ConnKey::Member(id("b", "bbbb")));
    let DispatchTarget::Member(addr) = target else {
        panic!("expected a member target")
    };
    assert_eq!(addr.dial_addr, "bbbb.b:8080");
    assert_eq!(d.pick(&hint), PickOutcome::Wait(key.clone()));
    assert!(!d.on_state(&key, Some(ConnState::Connecting)));
    assert!(!d.on_state(&key, Some(ConnState::Ready)));
    assert_eq!(d.pick(&hint), PickOutcome::Use(key.clone()));
    assert_eq!(d.on_rpc_done(&hint, true), Some("j"));
    assert_eq!(d.on_rpc_done(&hint, false), None);

    d.on_state(&key, Some(ConnState::TransientFailure));
    // Once failed, Idle/Connecting reports are ignored (Idle asks to reconnect).
    assert!(d.on_state(&key, Some(ConnState::Idle)));
    assert_eq!(d.state(&key), Some(ConnState::TransientFailure));
    // Zone beats health, so the failed local member is still chosen; the pick
    // fails and invalidates the item's route.
    assert_eq!(
        d.pick(&hint),
        PickOutcome::TransientFailure {
            invalidate: Some("j".into())
        }
    );
    // A route hint has no router: nothing to invalidate.
    let explicit = DispatchHint::Route {
        route: hint.route().unwrap().clone(),
        member: None,
    };
    assert_eq!(
        d.pick(&explicit),
        PickOutcome::TransientFailure { invalidate: None }
    );
    assert_eq!(d.on_rpc_done(&explicit, true), None);
}

#[test]
fn dispatcher_default_target_waits_through_failures() {
    let mut d = Dispatcher::new("a");
    let PickOutcome::Connect { key, target } = d.pick(&DispatchHint::Default) else {
        panic!()
    };
    assert_eq!(
        (key.clone(), target),
        (ConnKey::Default, DispatchTarget::Default)
    );
    d.on_state(&key, Some(ConnState::TransientFailure));
    assert_eq!(
        d.pick(&DispatchHint::Default),
        PickOutcome::Wait(ConnKey::Default)
    );
    d.on_state(&key, None);
    assert!(matches!(
        d.pick(&DispatchHint::Default),
        PickOutcome::Connect { .. }
    ));
}

#[test]
fn dispatcher_member_without_endpoint_falls_back_to_service_address() {
    // Go panics here (quirk 28); the port reports a typed error and falls back.
    let mut r = route(&[("a", "aaaa")], 0);
    r.endpoints.clear();
    assert_eq!(
        member_address(&r, &id("a", "aaaa")),
        Err(DispatchError::NoEndpoints {
            zone: "a".into(),
            suffix: "aaaa".into()
        })
    );
    r.endpoints = vec![String::new()];
    assert!(matches!(
        member_address(&r, &id("a", "aaaa")),
        Err(DispatchError::EmptyEndpoint { .. })
    ));
    assert!(matches!(
        member_address(&r, &id("z", "zzzz")),
        Err(DispatchError::MemberNotInRoute { .. })
    ));
    let mut d = Dispatcher::new("a");
    let hint = DispatchHint::Route {
        route: r,
        member: Some(id("a", "aaaa")),
    };
    assert!(matches!(
        d.pick(&hint),
        PickOutcome::Connect {
            key: ConnKey::Default,
            target: DispatchTarget::Default
        }
    ));
}

#[test]
fn dispatcher_sweeps_connections_unused_for_a_full_period() {
    let r = route(&[("a", "aaaa")], 0);
    let hint = DispatchHint::Route {
        route: r,
        member: None,
    };
    let mut d = Dispatcher::new("a");
    d.pick(&hint);
    d.pick(&DispatchHint::Default);
    assert!(d.sweep().is_empty(), "used during this period");
    let swept = d.sweep();
    assert_eq!(swept, vec![ConnKey::Member(id("a", "aaaa"))]);
    assert_eq!(
        d.state(&ConnKey::Default),
        Some(ConnState::Idle),
        "default never swept"
    );
}

#[test]
fn dial_address_rules() {
    assert_eq!(dial_address("https://host").unwrap(), "host:443");
    assert_eq!(dial_address("http://host").unwrap(), "host:80");
    assert_eq!(
        dial_address("unix://host/tmp/sock").unwrap(),
        "unix:///tmp/sock"
    );
    assert_eq!(dial_address("http://host:1234/p").unwrap(), "host:1234");
    assert!(dial_address("not a url").is_err());
}

#[test]
fn routes_learned_from_headers() {
    let r = route(&[("a", "aaaa")], 0);
    let header = Header {
        route: Some(r.clone()),
        ..Default::default()
    };
    assert_eq!(
        route_update_from_header(Some(&header)),
        Some(RouteUpdate::Store(r.clone()))
    );
    assert_eq!(
        route_update_from_header(Some(&Header::default())),
        Some(RouteUpdate::Invalidate)
    );
    assert_eq!(route_update_from_header(None), None);
    // One shape for every machine: an empty route invalidates, and the
    // update converts back to the cache's `Option<&Route>` argument.
    assert_eq!(
        RouteUpdate::new(Some(Route::default())),
        RouteUpdate::Invalidate
    );
    assert_eq!(RouteUpdate::new(None), RouteUpdate::Invalidate);
    assert_eq!(
        RouteUpdate::new(Some(r.clone())).into_route(),
        Some(r.clone())
    );
    assert_eq!(RouteUpdate::Invalidate.into_route(), None);
    assert!(routes_equivalent(
        &r,
        &Route {
            endpoints: vec![],
            ..r.clone()
        }
    ));
}

#[test]
fn not_journal_broker_adopts_the_returned_route() {
    let r = route(&[("a", "aaaa"), ("b", "bbbb")], 1);
    let header = Header {
        route: Some(r.clone()),
        ..Default::default()
    };
    let nb = Status::NotJournalBroker as i32;
    let npb = Status::NotJournalPrimaryBroker as i32;
    assert_eq!(
        redirect_hint(Operation::Read, nb, Some(&header)),
        Some(DispatchHint::Route {
            route: r.clone(),
            member: None
        })
    );
    assert_eq!(
        redirect_hint(Operation::Append, npb, Some(&header)),
        Some(DispatchHint::Route {
            route: r.clone(),
            member: Some(id("b", "bbbb"))
        })
    );
    assert_eq!(redirect_hint(Operation::Append, nb, Some(&header)), None);
    assert_eq!(redirect_hint(Operation::Read, npb, Some(&header)), None);
    assert_eq!(
        redirect_hint(Operation::Read, nb, Some(&Header::default())),
        None
    );
    let no_primary = Header {
        route: Some(route(&[("a", "aaaa")], -1)),
        ..Default::default()
    };
    assert_eq!(
        redirect_hint(Operation::Append, npb, Some(&no_primary)),
        None
    );
}

#[derive(Debug, Clone)]
enum CacheOp {
    Update(u8, Option<u8>),
    Lookup(u8),
    Advance(u8),
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        (0u8..6, proptest::option::of(0u8..3)).prop_map(|(k, m)| CacheOp::Update(k, m)),
        (0u8..6).prop_map(CacheOp::Lookup),
        (0u8..40).prop_map(CacheOp::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The cache agrees with a simple model: an ordered list with LRU
    /// eviction and TTL expiry.
    #[test]
    fn route_cache_matches_lru_ttl_model(ops in proptest::collection::vec(cache_op(), 0..60)) {
        let cap = 3usize;
        let ttl = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut now = t0;
        let mut rc = RouteCache::new(NonZeroUsize::new(cap).unwrap(), ttl);
        // Most recently used last: (item, members, stored_at).
        let mut model: Vec<(String, u8, Instant)> = Vec::new();
        for op in ops {
            match op {
                CacheOp::Advance(s) => now += Duration::from_secs(s as u64),
                CacheOp::Update(k, m) => {
                    let item = format!("j{k}");
                    let members: Vec<(String, String)> =
                        (0..m.unwrap_or(0)).map(|i| ("z".to_string(), format!("m{i}xx"))).collect();
                    let refs: Vec<(&str, &str)> = members.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    let r = m.map(|_| route(&refs, if refs.is_empty() { -1 } else { 0 }));
                    rc.update_route(&item, r.as_ref(), now);
                    model.retain(|(i, _, _)| *i != item);
                    if let Some(n) = m.filter(|n| *n > 0) {
                        model.push((item, n, now));
                        if model.len() > cap { model.remove(0); }
                    }
                }
                CacheOp::Lookup(k) => {
                    let item = format!("j{k}");
                    let got = rc.route(&item, now);
                    let pos = model.iter().position(|(i, _, _)| *i == item);
                    let want = match pos {
                        None => 0,
                        Some(p) => {
                            let entry = model.remove(p);
                            if entry.2 + ttl < now { 0 } else {
                                let n = entry.1;
                                model.push(entry);
                                n
                            }
                        }
                    };
                    prop_assert_eq!(got.members.len(), want as usize);
                    prop_assert_eq!(got.primary, if want == 0 { -1 } else { 0 });
                }
            }
            prop_assert_eq!(rc.len(), model.len());
        }
    }

    /// The chosen member is never beaten by any other member under Go's
    /// preference order, and an earlier equal member is always kept.
    #[test]
    fn pick_member_is_a_maximum_of_go_preference(
        zones in proptest::collection::vec(0u8..3, 0..6),
        states in proptest::collection::vec(0u8..4, 6),
    ) {
        let members: Vec<(String, String)> = zones.iter().enumerate()
            .map(|(i, z)| (format!("z{z}"), format!("m{i:03}"))).collect();
        let mut members_sorted = members.clone();
        members_sorted.sort();
        let refs: Vec<(&str, &str)> = members_sorted.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let r = route(&refs, -1);
        let state_of = |m: &Id| {
            let i: usize = m.suffix[1..].parse().unwrap();
            [ConnState::Idle, ConnState::Connecting, ConnState::Ready, ConnState::TransientFailure][states[i] as usize]
        };
        let rank = |m: &Id| {
            let s = state_of(m);
            (m.zone == "z1", s < ConnState::TransientFailure, s)
        };
        match pick_member(&r, "z1", state_of) {
            None => prop_assert!(r.members.is_empty()),
            Some(best) => {
                for (i, m) in r.members.iter().enumerate() {
                    prop_assert!(rank(m) <= rank(&r.members[best]));
                    if i < best { prop_assert!(rank(m) < rank(&r.members[best])); }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum DispatchOp {
    Pick {
        route: usize,
        explicit: bool,
        item: bool,
    },
    State {
        member: usize,
        state: Option<u8>,
    },
    Sweep,
}

fn dispatch_op() -> impl Strategy<Value = DispatchOp> {
    prop_oneof![
        (0usize..3, any::<bool>(), any::<bool>()).prop_map(|(route, explicit, item)| {
            DispatchOp::Pick {
                route,
                explicit,
                item,
            }
        }),
        (0usize..4, proptest::option::of(0u8..4))
            .prop_map(|(member, state)| DispatchOp::State { member, state }),
        Just(DispatchOp::Sweep),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Dispatcher invariants over arbitrary picks, state reports and sweeps:
    /// only Ready connections are used, new connections start Idle, failures
    /// invalidate exactly the hint's item, an explicit dialable member is
    /// always the one picked, and a connection picked since the last sweep
    /// survives the next one.
    #[test]
    fn dispatcher_machine_invariants(ops in proptest::collection::vec(dispatch_op(), 0..80)) {
        let members = [id("a", "aaaa"), id("a", "abab"), id("b", "bbbb"), id("c", "cccc")];
        let routes = [
            route(&[("a", "aaaa"), ("b", "bbbb")], 0),
            route(&[("a", "abab"), ("c", "cccc")], 1),
            empty_route(),
        ];
        let states = [ConnState::Idle, ConnState::Connecting, ConnState::Ready, ConnState::TransientFailure];
        let mut d = Dispatcher::new("b");
        let mut used_since_sweep: Vec<ConnKey> = Vec::new();
        for op in ops {
            match op {
                DispatchOp::Pick { route: ri, explicit, item } => {
                    let r = routes[ri].clone();
                    let member = if explicit && r.primary >= 0 { Some(r.members[r.primary as usize].clone()) } else { None };
                    let hint = if item {
                        DispatchHint::Item { item: format!("j{ri}"), route: r.clone(), member: member.clone() }
                    } else {
                        DispatchHint::Route { route: r.clone(), member: member.clone() }
                    };
                    let existed: Vec<Option<ConnState>> = members.iter().map(|m| d.state(&ConnKey::Member(m.clone()))).collect();
                    let outcome = d.pick(&hint);
                    let key = match &outcome {
                        PickOutcome::Use(k) => { prop_assert_eq!(d.state(k), Some(ConnState::Ready)); Some(k.clone()) }
                        PickOutcome::Connect { key, .. } => {
                            if let ConnKey::Member(m) = key {
                                let i = members.iter().position(|x| x == m).unwrap();
                                prop_assert_eq!(existed[i], None);
                            }
                            prop_assert_eq!(d.state(key), Some(ConnState::Idle));
                            Some(key.clone())
                        }
                        PickOutcome::Wait(k) => Some(k.clone()),
                        PickOutcome::TransientFailure { invalidate } => {
                            prop_assert_eq!(invalidate.as_deref(), hint.item_name());
                            None
                        }
                    };
                    if let (Some(m), Some(k)) = (&member, &key) {
                        prop_assert_eq!(k, &ConnKey::Member(m.clone()));
                    }
                    if r.members.is_empty() {
                        prop_assert_eq!(key.clone(), Some(ConnKey::Default));
                    }
                    if let Some(k) = key { used_since_sweep.push(k); }
                }
                DispatchOp::State { member, state } => {
                    let key = ConnKey::Member(members[member].clone());
                    let before = d.state(&key);
                    let new = state.map(|s| states[s as usize]);
                    let reconnect = d.on_state(&key, new);
                    prop_assert_eq!(reconnect, before.is_some() && new == Some(ConnState::Idle));
                    match (before, new) {
                        (None, _) => prop_assert_eq!(d.state(&key), None),
                        (Some(_), None) => prop_assert_eq!(d.state(&key), None),
                        (Some(ConnState::TransientFailure), Some(ConnState::Idle | ConnState::Connecting)) =>
                            prop_assert_eq!(d.state(&key), Some(ConnState::TransientFailure)),
                        (Some(_), Some(s)) => prop_assert_eq!(d.state(&key), Some(s)),
                    }
                }
                DispatchOp::Sweep => {
                    let swept = d.sweep();
                    prop_assert!(!swept.contains(&ConnKey::Default));
                    for k in &swept {
                        prop_assert!(!used_since_sweep.contains(k));
                        prop_assert_eq!(d.state(k), None);
                    }
                    used_since_sweep.clear();
                }
            }
        }
    }
}

#[test]
fn dispatcher_sweeps_in_a_deterministic_order() {
    let members = [("c", "3"), ("a", "2"), ("b", "9"), ("a", "1"), ("d", "0")];
    let r = route(&members, 0);
    let mut d = Dispatcher::new("zone-of-none");
    for (zone, suffix) in members {
        d.pick(&DispatchHint::Route {
            route: r.clone(),
            member: Some(id(zone, suffix)),
        });
    }
    assert!(d.sweep().is_empty(), "used during this period");
    let swept = d.sweep();
    let expected: Vec<_> = [("a", "1"), ("a", "2"), ("b", "9"), ("c", "3"), ("d", "0")]
        .into_iter()
        .map(|(zone, suffix)| ConnKey::Member(id(zone, suffix)))
        .collect();
    assert_eq!(swept, expected, "members by zone, then suffix");
}
