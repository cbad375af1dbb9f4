//! Exit codes with a meaning, so CI can gate on them (docs/architecture.md).

/// What a `ninefold` invocation tells its caller through its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Every SLO was met (or the command did what was asked).
    Pass,
    /// At least one SLO failed.
    SloFailed,
    /// Bad input: a scenario, a flag, a file that cannot be used.
    BadInput,
    /// The run itself broke (a child would not start, an I/O error…).
    RunBroke,
    /// Too little evidence to judge at least one SLO.
    Inconclusive,
    /// The generator fell behind or dropped requests: the numbers cannot be trusted.
    Invalid,
    /// The run was interrupted (SIGINT, SIGTERM: a cancelled CI job): what was
    /// measured until then is written, but the verdict is withheld. Never 0.
    Interrupted,
    /// The shards of a run could not start together (`--barrier` timed out,
    /// or the `--start-at` / barrier instant passed before this shard was
    /// ready): no traffic was sent.
    NoSharedStart,
}

impl ExitStatus {
    /// The process exit code for this status.
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::SloFailed => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::RunBroke => 3,
            ExitStatus::Inconclusive => 4,
            ExitStatus::Invalid => 5,
            ExitStatus::Interrupted => 6,
            ExitStatus::NoSharedStart => 7,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_design() {
        let all = [
            (ExitStatus::Pass, 0),
            (ExitStatus::SloFailed, 1),
            (ExitStatus::BadInput, 2),
            (ExitStatus::RunBroke, 3),
            (ExitStatus::Inconclusive, 4),
            (ExitStatus::Invalid, 5),
            (ExitStatus::Interrupted, 6),
            (ExitStatus::NoSharedStart, 7),
        ];
        for (status, code) in all {
            assert_eq!(status.code(), code, "{status:?}");
        }
    }
}
