//! The README's quick start is `tests/src/bin/quickstart.rs`, word for
//! word, and it runs against the live cluster.

use std::path::{Path, PathBuf};
use std::process::Command;

use gazette_tests::Cluster;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first ```rust block after the "## Quick start" heading of README.md.
fn readme_quickstart() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("\n## Quick start")
        .nth(1)
        .expect("README.md has a '## Quick start' section");
    let code = section
        .split("```rust\n")
        .nth(1)
        .expect("the quick start has a ```rust block");
    code[..code.find("```").expect("the rust block is closed")].to_owned()
}

#[test]
fn readme_quick_start_is_the_tested_example() {
    let example = std::fs::read_to_string(repo().join("tests/src/bin/quickstart.rs")).unwrap();
    assert_eq!(
        readme_quickstart(),
        example,
        "README.md's quick start and tests/src/bin/quickstart.rs differ"
    );
}

#[test]
fn readme_quick_start_runs_against_the_cluster() {
    let cluster = Cluster::require();
    for run in 1..=2 {
        // The second run updates the existing journal and appends again.
        let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
            .env("BROKER_ADDRESS", &cluster.brokers[0].endpoint)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run}: {}\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, "{\"n\":1}\n{\"n\":2}\n", "run {run}");
    }
}
