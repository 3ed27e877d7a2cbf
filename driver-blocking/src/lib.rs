//! gazette-blocking (under construction).
