//! [`FixedTimeout`]: the same timeout for every target, learning nothing. The baseline every
//! adaptive policy is measured against, and what the executor uses with adaptive timeouts off.

use std::time::Duration;

use crate::traits::timeout::{Outcome, Target, TimeoutPolicy};

/// One timeout for everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTimeout(pub Duration);

impl TimeoutPolicy for FixedTimeout {
    fn timeout_for(&self, _target: &Target) -> Duration {
        self.0
    }

    fn observe(&self, _target: &Target, _outcome: &Outcome) {}
}
