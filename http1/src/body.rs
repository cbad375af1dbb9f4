//! Bodies: Content-Length, chunked or close-delimited, decoded from a read buffer
//! without copying.

use bytes::{Buf, BytesMut};

use crate::{Framing, H1Error, MAX_HEAD};

/// What [`BodyDecoder::decode`] found at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// The first `n` bytes of the buffer are body data: take them (`split_to`) or skip them.
    Data(usize),
    /// More bytes must be read first.
    NeedMore,
    /// The body is complete; the buffer holds what follows it.
    Done,
}

/// Decodes a body's framing from a read buffer, piece by piece, without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
    /// Most bytes of chunk data and trailers accepted, when limited.
    limit: Option<u64>,
    /// Chunk data announced and trailer bytes seen so far.
    counted: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    Eof,
    Done,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Eof => State::Eof,
        };
        BodyDecoder {
            state,
            limit: None,
            counted: 0,
        }
    }

    /// Refuses a chunked body once the chunk sizes it announces plus its trailers add up
    /// to more than `limit` bytes: as soon as such a chunk's size line is read, before its
    /// data ([`H1Error::BodyTooLarge`]).
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Counts `n` more bytes against the limit.
    fn count(&mut self, n: u64) -> Result<(), H1Error> {
        self.counted = self.counted.saturating_add(n);
        match self.limit {
            Some(limit) if self.counted > limit => Err(H1Error::BodyTooLarge(limit)),
            _ => Ok(()),
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes still expected, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The next piece of the body at the start of `buf`. Framing bytes (chunk sizes,
    /// their line ends, trailers) are consumed here; data is left for the caller to take.
    // Long: the framing state machine, one arm per state, read top to bottom; it runs
    // for every body read, so its states stay in one loop.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, H1Error> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::Done),
                State::Length(left) | State::ChunkData(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                    return Ok(Decoded::Data(n));
                }
                State::Eof => {
                    return Ok(if buf.is_empty() {
                        Decoded::NeedMore
                    } else {
                        Decoded::Data(buf.len())
                    });
                }
                State::ChunkSize => match httparse::parse_chunk_size(buf) {
                    // A bare LF inside the size line's extension: `httparse` skips
                    // it, a reader that ends lines at LF would not (hyper refuses it).
                    Ok(httparse::Status::Complete((used, _)))
                        if buf[..used - 2].contains(&b'\n') =>
                    {
                        return Err(H1Error::Chunk);
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.count(size)?;
                        buf.advance(used);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => {
                        return Ok(Decoded::NeedMore);
                    }
                    _ => return Err(H1Error::Chunk),
                },
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(H1Error::Chunk);
                    }
                    buf.advance(2);
                    self.state = State::ChunkSize;
                }
                // Trailer lines, then the empty line.
                State::Trailers => match buf.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        buf.advance(2);
                        self.state = State::Done;
                    }
                    Some(end) => {
                        self.count(end as u64 + 2)?;
                        if !is_field_line(&buf[..end]) {
                            return Err(H1Error::Chunk);
                        }
                        buf.advance(end + 2);
                    }
                    None if self
                        .limit
                        .is_some_and(|l| self.counted + buf.len() as u64 > l) =>
                    {
                        return Err(H1Error::BodyTooLarge(self.limit.unwrap_or_default()));
                    }
                    None if buf.len() <= MAX_HEAD => return Ok(Decoded::NeedMore),
                    None => return Err(H1Error::Chunk),
                },
            }
        }
    }

    /// The connection ended: fine where the body runs to its end, else truncated.
    pub fn end_of_input(&mut self) -> Result<(), H1Error> {
        match self.state {
            State::Eof | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(H1Error::Truncated),
        }
    }
}

/// A trailer field line (RFC 9112 §7.1.2, RFC 9110 §5.5): a token, a colon, a value of
/// visible characters, blanks and obs-text; no control byte (so no bare LF, no obs-fold).
fn is_field_line(line: &[u8]) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    !name.is_empty()
        && name.iter().all(tchar)
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
}
