//! The toxics: a closed enum, one file per toxic with its behaviour on one
//! chain stage and its tests on paused time. Attributes here are domain types
//! (`Duration`, bytes); Toxiproxy's JSON units live in [`crate::faults::wire`].
//!
//! Every toxic follows the same contract (see [`StageIo`]): on interrupt it
//! forwards what it holds and returns [`PipeEnd::Interrupted`]; on input EOF
//! it returns [`PipeEnd::Closed`] (after its own delay for `slow_close`).

mod bandwidth;
mod latency;
mod limit_data;
mod loss;
mod noop;
mod reset_peer;
mod slicer;
mod slow_close;
mod timeout;
pub(crate) mod timer;

pub use bandwidth::Bandwidth;
pub use latency::Latency;
pub use limit_data::LimitData;
pub use loss::Loss;
pub use reset_peer::ResetPeer;
pub use slicer::Slicer;
pub use slow_close::SlowClose;
pub use timeout::Timeout;

use crate::faults::proxy::stage::{PipeEnd, StageCtx, StageIo};

/// A toxic with its attributes, as the data path runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Toxic {
    /// Delay every chunk by `latency` ± `jitter` (one-way: one stream).
    Latency(Latency),
    /// Limit the rate to `rate_kb_per_s`.
    Bandwidth(Bandwidth),
    /// Delay the close by `delay` after the source closed.
    SlowClose(SlowClose),
    /// Swallow all data; close after `timeout` (or never).
    Timeout(Timeout),
    /// After the first data and `timeout`, reset both sockets (RST).
    ResetPeer(ResetPeer),
    /// Cut chunks into small pieces with a delay between them.
    Slicer(Slicer),
    /// Close the chain after `bytes` bytes.
    LimitData(LimitData),
    /// Drop whole chunks at random (extension, after Toxiproxy PR #739).
    Loss(Loss),
    /// Pass everything through.
    Noop,
}

impl Toxic {
    /// Capacity of the channel feeding this toxic's stage. Latency gets a deep
    /// buffer (as in the reference) so the reader keeps reading while chunks wait.
    pub fn buffer_size(&self) -> usize {
        match self {
            Toxic::Latency(_) => 1024,
            _ => 32,
        }
    }

    /// Whether removing this toxic closes the connections it is on (`timeout`, as the reference).
    pub fn closes_on_removal(&self) -> bool {
        matches!(self, Toxic::Timeout(_))
    }

    /// Run this toxic on one stage until it ends or is interrupted.
    pub async fn pipe(&self, io: &mut StageIo, ctx: &mut StageCtx) -> PipeEnd {
        match self {
            Toxic::Latency(t) => t.pipe(io, ctx).await,
            Toxic::Bandwidth(t) => t.pipe(io).await,
            Toxic::SlowClose(t) => t.pipe(io).await,
            Toxic::Timeout(t) => t.pipe(io).await,
            Toxic::ResetPeer(t) => t.pipe(io).await,
            Toxic::Slicer(t) => t.pipe(io, ctx).await,
            Toxic::LimitData(t) => t.pipe(io, ctx).await,
            Toxic::Loss(t) => t.pipe(io, ctx).await,
            Toxic::Noop => noop::pipe(io).await,
        }
    }
}
