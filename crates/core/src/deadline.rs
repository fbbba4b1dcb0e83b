//! The run's deadline: every step asks it how much time is left.

use std::time::{Duration, Instant};

/// A point in time by which the whole run must end.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
}

/// A step ran out of time; names the step for the deny reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("deadline exceeded during {step}")]
pub struct DeadlineExceeded {
    /// The step that was running, e.g. `fetching referrers`.
    pub step: String,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline { at: Instant::now() + budget }
    }

    /// Time left, zero when past.
    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// `Err` naming `step` when no time is left.
    pub fn check(&self, step: &str) -> Result<Duration, DeadlineExceeded> {
        let left = self.remaining();
        if left.is_zero() {
            return Err(DeadlineExceeded { step: step.to_string() });
        }
        Ok(left)
    }

    /// The instant itself.
    pub fn instant(&self) -> Instant {
        self.at
    }
}
