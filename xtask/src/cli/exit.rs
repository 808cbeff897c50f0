//! Exit statuses: one enum, documented in the README, so that scripts can tell a finding
//! from a registry that could not be reached.

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed.
    Ok,
    /// Findings or failures: a check failed, a build failed, an input is invalid.
    Findings,
    /// Wrong usage, or something needed could not be reached (a registry, a scanner).
    Unavailable,
    /// Ctrl-C: work was stopped, and nothing unfinished was published.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Unavailable => 2,
            Exit::Interrupted => 130,
        }
    }

    /// The status an error ends the process with: its [`Failure`]'s, else `Findings`.
    pub fn of(err: &anyhow::Error) -> Exit {
        err.downcast_ref::<Failure>().map_or(Exit::Findings, |failure| failure.exit)
    }
}

/// An error that ends the process with a specific status, where 1 would blur two outcomes.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure { exit, message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_their_status_through_context() {
        use anyhow::Context;
        let err: anyhow::Error = Failure::new(Exit::Unavailable, "registry down").into();
        assert_eq!(Exit::of(&err), Exit::Unavailable);
        let wrapped = Err::<(), _>(err).context("verifying").unwrap_err();
        assert_eq!(Exit::of(&wrapped).code(), 2);
        assert_eq!(Exit::of(&anyhow::anyhow!("plain")).code(), 1);
    }
}
