//! Lists journals matching a label selector (gazctl's syntax, e.g.
//! `name:prefix=examples/` or `app.gazette.dev/team=a`).
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-tokio --example list -- 'name:prefix=examples/'
//! ```

use gazette_tokio::proto::ListRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let selector = std::env::args().nth(1).unwrap_or_default();
    let selector = gazette_tokio::core::validate::parse_label_selector(&selector)?;
    let client = gazette_tokio::Client::from_env()?;

    let snapshot = gazette_tokio::list_all_journals(
        &client,
        ListRequest {
            selector: Some(selector),
            ..Default::default()
        },
    )
    .await?;
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
    Ok(())
}
