//! The HPACK decoder (RFC 7541 §3, §6): strict. Every problem in a header block is a
//! [`DecodeError`], which the connection turns into a COMPRESSION_ERROR connection
//! error (RFC 9113 §4.3); nothing in a block can make it panic or allocate past its
//! limits.

use super::huffman;
use super::table::{Dynamic, STATIC};

/// Why a header block cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("header block truncated")]
    Truncated,
    #[error("HPACK integer too large")]
    Integer,
    #[error("HPACK string longer than the limit")]
    StringTooLong,
    #[error("bad Huffman string: {0:?}")]
    Huffman(huffman::HuffmanError),
    #[error("HPACK index 0 or past the tables")]
    Index,
    #[error("dynamic table size update past the allowed size")]
    SizeUpdate,
    #[error("dynamic table size update after a field")]
    LateSizeUpdate,
}

/// Largest integer accepted (well above any size or index that fits our limits).
const MAX_INT: usize = 1 << 28;

/// A connection's decoder.
#[derive(Debug)]
pub struct Decoder {
    table: Dynamic,
    /// The SETTINGS_HEADER_TABLE_SIZE we announced: size updates may not pass it.
    allowed: usize,
    /// The longest string accepted.
    max_string: usize,
    name: Vec<u8>,
    value: Vec<u8>,
}

/// Decode an integer with an `n`-bit prefix at `block[*pos]` (§5.1).
pub(crate) fn integer(block: &[u8], pos: &mut usize, n: u8) -> Result<usize, DecodeError> {
    let mask = (1u16 << n) as usize - 1;
    let first = *block.get(*pos).ok_or(DecodeError::Truncated)? as usize & mask;
    *pos += 1;
    if first < mask {
        return Ok(first);
    }
    let mut value = mask;
    let mut shift = 0u32;
    loop {
        let b = *block.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        value += ((b & 0x7f) as usize) << shift;
        if value > MAX_INT {
            return Err(DecodeError::Integer);
        }
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(DecodeError::Integer);
        }
    }
}

/// Read a string literal (§5.2): raw bytes of the block, or Huffman-decoded into `scratch`.
fn string<'a>(
    block: &'a [u8],
    pos: &mut usize,
    scratch: &'a mut Vec<u8>,
    max: usize,
) -> Result<&'a [u8], DecodeError> {
    let huff = *block.get(*pos).ok_or(DecodeError::Truncated)? & 0x80 != 0;
    let len = integer(block, pos, 7)?;
    if len > block.len() - *pos {
        return Err(DecodeError::Truncated);
    }
    let raw = &block[*pos..*pos + len];
    *pos += len;
    if !huff {
        if len > max {
            return Err(DecodeError::StringTooLong);
        }
        return Ok(raw);
    }
    // A Huffman string decodes to at most 8/5 of its length.
    if len > max {
        return Err(DecodeError::StringTooLong);
    }
    scratch.clear();
    huffman::decode(raw, scratch).map_err(DecodeError::Huffman)?;
    if scratch.len() > max {
        return Err(DecodeError::StringTooLong);
    }
    Ok(&scratch[..])
}

impl Decoder {
    /// A decoder whose table may grow to `allowed` octets (the SETTINGS_HEADER_TABLE_SIZE
    /// we announce; 4096 by default), refusing strings longer than `max_string`.
    pub fn new(allowed: usize, max_string: usize) -> Self {
        Decoder {
            table: Dynamic::new(allowed),
            allowed,
            max_string,
            name: Vec::new(),
            value: Vec::new(),
        }
    }

    /// The dynamic table's entries and size now (tests).
    pub fn table_state(&self) -> (usize, usize) {
        (self.table.len(), self.table.size())
    }

    /// The dynamic table's entry `i` (0 = newest), for tests.
    pub fn table_entry(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.table.get(i)
    }

    /// Decode a complete header block, giving each field to `emit` in order.
    pub fn decode(
        &mut self,
        block: &[u8],
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), DecodeError> {
        let Decoder {
            table,
            allowed,
            max_string,
            name: name_buf,
            value: value_buf,
        } = self;
        let mut pos = 0;
        let mut fields = false;
        while pos < block.len() {
            let b = block[pos];
            if b & 0x80 != 0 {
                // Indexed field (§6.1).
                let i = integer(block, &mut pos, 7)?;
                let (n, v) = lookup(table, i)?;
                emit(n, v);
                fields = true;
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3): only before the first field.
                if fields {
                    return Err(DecodeError::LateSizeUpdate);
                }
                let size = integer(block, &mut pos, 5)?;
                if size > *allowed {
                    return Err(DecodeError::SizeUpdate);
                }
                table.set_max(size);
            } else {
                // Literals (§6.2): with incremental indexing (01), without (0000) or
                // never indexed (0001).
                let indexing = b & 0x40 != 0;
                let prefix = if indexing { 6 } else { 4 };
                let i = integer(block, &mut pos, prefix)?;
                let value_scratch = &mut *value_buf;
                if i == 0 {
                    let n = string(block, &mut pos, name_buf, *max_string)?;
                    let v = string(block, &mut pos, value_scratch, *max_string)?;
                    emit(n, v);
                    if indexing {
                        table.insert(n.into(), v.into());
                    }
                } else {
                    let v = string(block, &mut pos, value_scratch, *max_string)?;
                    let (n, _) = lookup(table, i)?;
                    emit(n, v);
                    if indexing {
                        let entry = (Box::<[u8]>::from(n), Box::<[u8]>::from(v));
                        table.insert(entry.0, entry.1);
                    }
                }
                fields = true;
            }
        }
        Ok(())
    }
}

/// Field `i` of the static table then the dynamic one (§2.3.3).
fn lookup(table: &Dynamic, i: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    match i {
        0 => Err(DecodeError::Index),
        1..=61 => Ok(STATIC[i - 1]),
        _ => table.get(i - 62).ok_or(DecodeError::Index),
    }
}

/// The table's current maximum size (tests).
impl Decoder {
    pub fn table_max(&self) -> usize {
        self.table.max()
    }
}
