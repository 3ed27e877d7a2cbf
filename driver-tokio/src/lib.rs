//! gazette-tokio (under construction).
