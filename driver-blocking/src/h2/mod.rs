//! gRPC over HTTP/2 without an async runtime: a sans-IO client connection
//! machine and a blocking `std::net` transport over it.
//!
//! * [`frame`]: the HTTP/2 frame codec.
//! * [`grpc`]: gRPC message framing, `grpc-timeout`, `grpc-message`.
//! * [`conn`]: the connection machine (bytes and calls in; bytes, events
//!   and timeouts out).
//! * [`transport`]: one TCP connection driven by a reader and a writer
//!   thread, with blocking calls.
//!
//! Not yet wired into the crate's public client; see
//! docs/blocking-transport.md for the contract and its limits.

pub mod conn;
pub mod frame;
pub mod grpc;
pub mod transport;

#[cfg(test)]
mod tests;

pub use conn::{
    Config, Connection, ConnectionError, Event, Metadata, OpenError, ProtocolError, Request,
    SendError, Status, StreamError, StreamId,
};
pub use frame::{FrameError, Reason};
pub use grpc::MessageError;
