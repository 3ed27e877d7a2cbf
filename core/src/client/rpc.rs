//! The vocabulary between the client and its driver: identifiers, the RPC
//! commands the client emits, and the facts the driver reports back.

use std::fmt;

use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, Fragment,
    FragmentStoreHealthRequest, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    ListRequest, ListResponse, ReadRequest, ReadResponse,
};

use super::auth::Claims;
use crate::read::DirectFetch;
use crate::status::{Operation, RpcCode};

/// One operation the user started: a read, an append, a listing, a watch.
/// Identifiers are never reused within a [`super::Client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub(crate) u64);

impl OpId {
    /// The identifier as a number (for logs and maps).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op{}", self.0)
    }
}

/// One RPC the client asked the driver to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RpcId(pub(crate) u64);

impl RpcId {
    /// The identifier as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RpcId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rpc{}", self.0)
    }
}

/// One direct fragment fetch the client asked the driver to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FetchId(pub(crate) u64);

impl FetchId {
    /// The identifier as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FetchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fetch{}", self.0)
    }
}

/// Where an RPC goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The configured service address (brokers proxy to the right member).
    Service,
    /// One broker, by its advertised endpoint (`http://host:port`).
    Member(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Service => f.write_str("service"),
            Target::Member(endpoint) => f.write_str(endpoint),
        }
    }
}

/// The RPC to open and its first (for server-streaming calls, only)
/// request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Call {
    /// `Journal.Read` (server streaming).
    Read(ReadRequest),
    /// `Journal.Append` (client streaming) of `journal`: every request
    /// message, the preamble included, follows as [`RpcCommand::Send`].
    Append {
        /// The journal appended to (its preamble's, `;meta` removed).
        journal: String,
    },
    /// `Journal.List` (server streaming; a watch when `watch` is set).
    List(ListRequest),
    /// `Journal.Apply` (unary).
    Apply(ApplyRequest),
    /// `Journal.ListFragments` (unary).
    ListFragments(FragmentsRequest),
    /// `Journal.FragmentStoreHealth` (unary).
    FragmentStoreHealth(FragmentStoreHealthRequest),
}

impl Call {
    /// The operation this call is.
    pub fn operation(&self) -> Operation {
        match self {
            Call::Read(_) => Operation::Read,
            Call::Append { .. } => Operation::Append,
            Call::List(_) => Operation::List,
            Call::Apply(_) => Operation::Apply,
            Call::ListFragments(_) => Operation::ListFragments,
            Call::FragmentStoreHealth(_) => Operation::FragmentStoreHealth,
        }
    }
}

/// What the driver must do next for the client ([`super::Client::poll_rpc`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per command: boxing the requests would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum RpcCommand {
    /// Open `call` to `target`, authorized for `claims`. Report
    /// [`super::Client::handle_rpc_opened`] when the response headers
    /// arrive (server-streaming calls), every response with
    /// [`super::Client::handle_rpc_message`], and the end exactly once with
    /// [`super::Client::handle_rpc_end`].
    Open {
        /// The RPC's identifier, used in every later report.
        rpc: RpcId,
        /// The operation it serves.
        op: OpId,
        /// Where it goes.
        target: Target,
        /// The call and its request.
        call: Call,
        /// The authorization it needs.
        claims: Claims,
    },
    /// Send one request message on an Append RPC, in order. Report
    /// [`super::Client::handle_rpc_sent`] once the transport took it.
    Send {
        /// The RPC.
        rpc: RpcId,
        /// The message.
        message: AppendRequest,
    },
    /// Half-close the request side of an Append RPC (after its last Send).
    HalfClose {
        /// The RPC.
        rpc: RpcId,
    },
    /// Cancel the RPC and forget it: the client ignores any later report
    /// about it.
    Cancel {
        /// The RPC.
        rpc: RpcId,
    },
    /// Run a direct fragment fetch: GET `url` (or open the `file://`
    /// path), carry out the IO of the [`DirectFetch`] adapter that
    /// [`RpcCommand::fetch_adapter`] builds, and report its reader inputs
    /// with [`super::Client::handle_fetch`].
    Fetch {
        /// The fetch's identifier.
        fetch: FetchId,
        /// The read it serves.
        op: OpId,
        /// The fragment the URL holds.
        fragment: Fragment,
        /// Journal offset of the first byte to report.
        offset: i64,
        /// The signed fragment URL.
        url: String,
    },
    /// Stop a direct fragment fetch and forget it.
    CancelFetch {
        /// The fetch.
        fetch: FetchId,
    },
    /// Close the connection to a broker no RPC used since the previous
    /// sweep (Go's dispatcher sweep). RPCs opened later reconnect.
    Disconnect {
        /// The broker endpoint.
        endpoint: String,
    },
}

impl RpcCommand {
    /// The adapter that decodes the fragment of an [`RpcCommand::Fetch`].
    pub fn fetch_adapter(&self) -> Option<DirectFetch> {
        match self {
            RpcCommand::Fetch {
                fragment,
                offset,
                url,
                ..
            } => Some(DirectFetch::new(fragment.clone(), *offset, url.clone())),
            _ => None,
        }
    }
}

/// One response message of an RPC, as the driver received it.
#[derive(Debug, Clone, PartialEq)]
// One value per message: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum RpcMessage {
    /// A Read frame.
    Read(ReadResponse),
    /// The Append response.
    Append(AppendResponse),
    /// A List message.
    List(ListResponse),
    /// The Apply response.
    Apply(ApplyResponse),
    /// A ListFragments page.
    ListFragments(FragmentsResponse),
    /// The FragmentStoreHealth response.
    FragmentStoreHealth(FragmentStoreHealthResponse),
}

/// How an RPC ended, as the driver's transport reports it. These are
/// facts; what they mean (unavailable, remote cancellation, retryable) is
/// the client's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEnd {
    /// The response stream ended with status OK.
    Ok,
    /// The RPC failed.
    Failed {
        /// The gRPC code it ended with.
        code: RpcCode,
        /// The status message.
        message: String,
        /// Whether the transport itself failed (connection refused or
        /// reset, an IO error below gRPC), rather than a peer sending a
        /// status.
        transport: bool,
    },
}

impl RpcEnd {
    /// A failure sent by a peer with `code` and `message`.
    pub fn status(code: RpcCode, message: impl Into<String>) -> Self {
        RpcEnd::Failed {
            code,
            message: message.into(),
            transport: false,
        }
    }

    /// A failure of the transport (the connection could not be made or
    /// broke) with `message`.
    pub fn transport(message: impl Into<String>) -> Self {
        RpcEnd::Failed {
            code: RpcCode::Unavailable,
            message: message.into(),
            transport: true,
        }
    }
}
