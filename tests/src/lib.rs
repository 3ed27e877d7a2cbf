//! gazette-tests (under construction).
