//! Compiles `proto/protocol/protocol.proto` with protox (no system `protoc`)
//! and generates prost messages, plus the tonic client and server when their
//! features are enabled.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/protocol/protocol.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;

    let client = std::env::var_os("CARGO_FEATURE_CLIENT").is_some();
    let server = std::env::var_os("CARGO_FEATURE_SERVER").is_some();

    tonic_prost_build::configure()
        .build_client(client)
        .build_server(server)
        .build_transport(false)
        // Content fields are `Bytes`, so frames move without copies.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}
