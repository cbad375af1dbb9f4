//! The HPACK encoder of requests (RFC 7541 §6), made for a load engine sending the
//! same few headers again and again: a field seen with one value only is added to the
//! dynamic table the first time (Huffman-coded) and sent as a one- or two-byte index
//! after that; a field whose value has changed once (a sequence number, a path with an
//! id) is marked varying and sent as a literal without indexing from then on, so that
//! it never evicts the constant ones. Exact static-table matches (`:method GET`,
//! `:scheme https`, `:path /`, …) are one byte.
//!
//! The table's size follows the peer's SETTINGS_HEADER_TABLE_SIZE (capped at 4096):
//! a change is announced by a size update at the start of the next block (§4.2).

use foldhash::HashMap;

use super::huffman;
use super::table::{Dynamic, STATIC, entry_size, static_name};

/// The largest table the encoder uses, whatever the peer allows.
const MAX_TABLE: usize = 4096;
/// Names remembered; past it, new names are sent as literals without indexing.
const MAX_NAMES: usize = 512;

#[derive(Debug)]
struct Seen {
    value: Box<[u8]>,
    /// The insertion number of `(name, value)` in the table, when it was added.
    inserted: Option<u64>,
    varying: bool,
}

/// A connection's request encoder.
#[derive(Debug)]
pub struct Encoder {
    /// A mirror of the peer decoder's table (its names and values are not needed for
    /// lookups, but their sizes are, for evictions).
    table: Dynamic,
    /// Entries ever added: entry `k` is at HPACK index `62 + inserted - 1 - k` while
    /// `k >= inserted - table.len()`.
    inserted: u64,
    names: HashMap<Box<[u8]>, Seen>,
    /// The smallest and the last table size since the last block (§4.2).
    update: Option<(usize, usize)>,
    lower: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Encode `value` with an `n`-bit prefix whose other bits are `flags` (§5.1).
pub(crate) fn put_integer(out: &mut Vec<u8>, flags: u8, n: u8, value: usize) {
    let mask = (1usize << n) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A string literal (§5.2), Huffman-coded when asked and shorter.
fn put_string(out: &mut Vec<u8>, s: &[u8], try_huffman: bool) {
    if try_huffman {
        let len = huffman::encoded_len(s);
        if len < s.len() {
            put_integer(out, 0x80, 7, len);
            huffman::encode(s, out);
            return;
        }
    }
    put_integer(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            table: Dynamic::new(MAX_TABLE),
            inserted: 0,
            names: HashMap::default(),
            update: None,
            lower: Vec::new(),
        }
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed.
    pub fn set_peer_table_size(&mut self, size: u32) {
        let size = (size as usize).min(MAX_TABLE);
        if size == self.table.max() && self.update.is_none() {
            return;
        }
        self.table.set_max(size);
        let low = self.update.map_or(size, |(low, _)| low.min(size));
        self.update = Some((low, size));
    }

    /// Start a header block: the pending size updates first.
    pub fn begin(&mut self, out: &mut Vec<u8>) {
        if let Some((low, last)) = self.update.take() {
            if low < last {
                put_integer(out, 0x20, 5, low);
            }
            put_integer(out, 0x20, 5, last);
        }
    }

    /// Encode one field (`name` lowercased here if it is not already).
    pub fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        if name.iter().any(u8::is_ascii_uppercase) {
            let mut lower = std::mem::take(&mut self.lower);
            lower.clear();
            lower.extend(name.iter().map(u8::to_ascii_lowercase));
            self.lowercase_field(out, &lower, value);
            self.lower = lower;
        } else {
            self.lowercase_field(out, name, value);
        }
    }

    fn lowercase_field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
        // Exact static matches: the pseudo-headers' common values and
        // `accept-encoding: gzip, deflate` (entries 1 to 16; the others have no value).
        if let Some(i) = STATIC[..16].iter().position(|e| *e == (name, value)) {
            put_integer(out, 0x80, 7, i + 1);
            return;
        }
        let size = entry_size(name, value);
        let fits = size <= self.table.max() / 2;
        let index = if let Some(seen) = self.names.get_mut(name) {
            if !seen.varying && *seen.value == *value {
                if let Some(k) = seen.inserted
                    && k + self.table.len() as u64 >= self.inserted
                {
                    put_integer(out, 0x80, 7, 62 + (self.inserted - 1 - k) as usize);
                    return;
                }
                // Evicted (or never added): add it again.
                fits
            } else {
                seen.varying = true;
                seen.inserted = None;
                false
            }
        } else if self.names.len() < MAX_NAMES {
            self.names.insert(
                name.into(),
                Seen {
                    value: value.into(),
                    inserted: None,
                    varying: false,
                },
            );
            fits
        } else {
            false
        };
        let name_index = static_name(name);
        let (flags, prefix) = if index { (0x40, 6) } else { (0x00, 4) };
        match name_index {
            Some(i) => put_integer(out, flags, prefix, i),
            None => {
                out.push(flags);
                put_string(out, name, index);
            }
        }
        put_string(out, value, index);
        if index && self.table.insert(name.into(), value.into()) {
            let k = self.inserted;
            self.inserted += 1;
            if let Some(seen) = self.names.get_mut(name) {
                seen.inserted = Some(k);
            }
        }
    }
}

#[cfg(test)]
impl Encoder {
    /// The mirror table's entries and size.
    pub fn table_state(&self) -> (usize, usize) {
        (self.table.len(), self.table.size())
    }
}
