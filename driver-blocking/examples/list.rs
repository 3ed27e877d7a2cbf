//! Lists journals matching a label selector (gazctl's syntax, e.g.
//! `name:prefix=examples/`); with `--watch`, prints every new snapshot of
//! a watched list.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-blocking --example list -- 'name:prefix=examples/' [--watch]
//! ```

use gazette_blocking::proto::{ListRequest, ListResponse};

fn print(snapshot: &ListResponse) {
    for journal in &snapshot.journals {
        let spec = journal.spec.clone().unwrap_or_default();
        let route = journal.route.clone().unwrap_or_default();
        let primary = usize::try_from(route.primary)
            .ok()
            .and_then(|p| route.members.get(p))
            .map(|m| format!("{}/{}", m.zone, m.suffix))
            .unwrap_or_else(|| "-".into());
        println!(
            "{}\treplication={}\tprimary={}",
            spec.name, spec.replication, primary
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let watch = args.iter().any(|a| a == "--watch");
    let selector = args
        .iter()
        .find(|a| *a != "--watch")
        .cloned()
        .unwrap_or_default();
    let selector = gazette_blocking::core::validate::parse_label_selector(&selector)?;
    let client = gazette_blocking::Client::from_env()?;

    if watch {
        for snapshot in gazette_blocking::WatchedList::new(&client, selector) {
            match snapshot {
                Ok(snapshot) => {
                    println!("--- {} journals", snapshot.journals.len());
                    print(&snapshot);
                }
                Err(err) => eprintln!("watch failed (retrying): {err}"),
            }
        }
        return Ok(());
    }
    let snapshot = gazette_blocking::list_all_journals(
        &client,
        ListRequest {
            selector: Some(selector),
            ..Default::default()
        },
    )?;
    print(&snapshot);
    Ok(())
}
