//! `noop`: pass everything through. Also the hidden head of every chain and
//! what a toxic runs as when its toxicity roll says "not this chain".

use crate::faults::proxy::stage::{PipeEnd, Recv, StageIo};

/// Forward chunks until EOF or interrupt.
pub(crate) async fn pipe(io: &mut StageIo) -> PipeEnd {
    loop {
        match io.recv().await {
            Recv::Interrupted => return PipeEnd::Interrupted,
            Recv::Eof => return PipeEnd::Closed,
            Recv::Chunk(c) => {
                if !io.send(c).await {
                    return PipeEnd::Closed;
                }
            }
        }
    }
}
