//! Shared driver model of the sans-IO client (also used by the `client`
//! fuzz target).
pub mod model;
