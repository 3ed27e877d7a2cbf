//! The generated Rust in `src/generated/protocol.rs` is checked in, so users'
//! builds run neither protox nor prost-build. This test regenerates it from
//! `proto/protocol/protocol.proto` and fails when the checked-in copy is
//! stale. To refresh it after editing the `.proto`:
//!
//! ```sh
//! GAZETTE_PROTO_REGENERATE=1 cargo test -p gazette-proto --test generated_is_fresh
//! ```

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Generates `protocol.rs` into `out_dir` with every RPC module present,
/// each gated by the crate feature that enables it.
fn generate(out_dir: &Path) -> String {
    let fds = protox::compile(["protocol/protocol.proto"], [crate_dir().join("proto")])
        .expect("protocol.proto compiles");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .client_mod_attribute("protocol", "#[cfg(feature = \"client\")]")
        .server_mod_attribute("protocol", "#[cfg(feature = \"server\")]")
        // Content fields are `Bytes`, so frames move without copies.
        .bytes(".")
        .out_dir(out_dir)
        .compile_fds(fds)
        .expect("code generation succeeds");
    std::fs::read_to_string(out_dir.join("protocol.rs")).expect("generated file exists")
}

#[test]
fn checked_in_protocol_rs_matches_the_proto() {
    let out = tempfile_dir();
    let fresh = generate(&out);
    let checked_in_path = crate_dir().join("src/generated/protocol.rs");
    if std::env::var_os("GAZETTE_PROTO_REGENERATE").is_some() {
        std::fs::write(&checked_in_path, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(&checked_in_path).unwrap_or_default();
    std::fs::remove_dir_all(&out).ok();
    assert!(
        checked_in == fresh,
        "{} is stale against proto/protocol/protocol.proto; regenerate it with \
         GAZETTE_PROTO_REGENERATE=1 cargo test -p gazette-proto --test generated_is_fresh",
        checked_in_path.display()
    );
}

/// A fresh directory under the target's temporary area (no extra crate).
fn tempfile_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gazette-proto-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
