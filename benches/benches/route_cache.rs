//! Route cache lookup and insert cost, and selector parsing/formatting.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gazette_core::proto::{Route, process_spec::Id};
use gazette_core::route::{DispatchRouter, RouteCache};
use gazette_core::validate::{SelectorDisplay, parse_label_selector};

fn route(i: usize) -> Route {
    let members: Vec<Id> = (0..3)
        .map(|m| Id {
            zone: format!("zone-{m}"),
            suffix: format!("broker-{i}-{m}"),
        })
        .collect();
    Route {
        endpoints: members
            .iter()
            .map(|m| format!("http://{}:8080", m.suffix))
            .collect(),
        members,
        primary: 0,
    }
}

fn route_cache(c: &mut Criterion) {
    let now = Instant::now();
    let names: Vec<String> = (0..1024)
        .map(|i| format!("org/topic/part-{i:04}"))
        .collect();
    let routes: Vec<Route> = (0..1024).map(route).collect();

    let mut cache = RouteCache::new(NonZeroUsize::new(256).unwrap(), Duration::from_secs(3600));
    for (name, r) in names.iter().zip(&routes).take(256) {
        cache.update_route(name, Some(r), now);
    }
    let mut i = 0;
    c.bench_function("route_cache/lookup_hit", |b| {
        b.iter(|| {
            i = (i + 1) % 256;
            black_box(cache.route(&names[i], now))
        })
    });
    c.bench_function("route_cache/lookup_miss", |b| {
        b.iter(|| black_box(cache.route("org/topic/absent", now)))
    });
    let mut j = 0;
    c.bench_function("route_cache/insert_evict", |b| {
        b.iter(|| {
            j = (j + 1) % 1024;
            cache.update_route(&names[j], Some(&routes[j]), now)
        })
    });

    let text = "name:prefix=org/topic/, app.gazette.dev/tag in (a, b, c), !deleted";
    c.bench_function("selector/parse", |b| {
        b.iter(|| parse_label_selector(black_box(text)).unwrap())
    });
    let selector = parse_label_selector(text).unwrap();
    c.bench_function("selector/display", |b| {
        b.iter(|| SelectorDisplay(black_box(&selector)).to_string())
    });
}

criterion_group!(benches, route_cache);
criterion_main!(benches);
