//! [`TimeoutPolicy`](crate) implementations: fixed, adaptive (learned per domain), and retry
//! helpers usable with any policy.
//!
//! The adaptive-timeout optimization lands here next (see DESIGN.md); this module is the place
//! the layout reserves for it.
