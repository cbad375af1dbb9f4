//! Header fields: names cached per connection, numbers rendered without a `String`,
//! header maps reused per thread, hop-by-hop fields.

/// Header names one connection has received, kept as they came (in their case), so that
/// a peer sending the same fields in every message costs a comparison per field rather
/// than `HeaderName::from_bytes` (a lower-casing match, and an allocation for a name it
/// does not know): ~550 instructions per answer of three fields. Bounded: past
/// [`NameCache::CAPACITY`] names, new ones are made and not kept.
#[derive(Default)]
pub struct NameCache {
    pub(crate) seen: Vec<(Box<[u8]>, http::HeaderName)>,
}

impl NameCache {
    /// Names kept per connection.
    pub const CAPACITY: usize = 32;

    /// The header name `raw` (as received).
    pub fn get(&mut self, raw: &[u8]) -> Result<http::HeaderName, http::header::InvalidHeaderName> {
        if let Some((_, name)) = self.seen.iter().find(|(r, _)| **r == *raw) {
            return Ok(name.clone());
        }
        let name = http::HeaderName::from_bytes(raw)?;
        if self.seen.len() < Self::CAPACITY {
            self.seen.push((raw.into(), name.clone()));
        }
        Ok(name)
    }
}

/// `n` in decimal, in `buf` (for heads and header values, without a `String` each).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// `n` as a header value: one allocation of its digits (`HeaderValue::from(u64)` grows a
/// buffer to write them).
pub fn header_value_u64(n: u64) -> http::HeaderValue {
    http::HeaderValue::from_bytes(decimal(n, &mut [0; 20]))
        .unwrap_or(http::HeaderValue::from_static("0"))
}

/// Spare header maps kept per thread (see [`header_map`]).
pub(crate) const SPARE_MAPS: usize = 64;
/// A map that grew past this many fields is dropped, not kept: one large message must
/// not pin its memory for the rest of the thread's life.
pub(crate) const SPARE_MAP_FIELDS: usize = 96;

thread_local! {
    pub(crate) static SPARE_MAPS_HERE: std::cell::RefCell<Vec<http::HeaderMap>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty header map with room for `fields`: one a finished message gave back on this
/// thread ([`recycle`]) when there is one. A new map costs two allocations (its index and
/// its entries) and two frees later; the gateway builds two per request (the request's
/// and the upstream's answer's).
pub fn header_map(fields: usize) -> http::HeaderMap {
    let spare = SPARE_MAPS_HERE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
    match spare {
        Some(mut map) => {
            if map.capacity() < fields {
                map.reserve(fields);
            }
            map
        }
        None => http::HeaderMap::with_capacity(fields),
    }
}

/// Gives a finished message's map back to [`header_map`], emptied (its values released
/// now); dropped instead when this thread keeps enough or the map grew large.
pub fn recycle(mut map: http::HeaderMap) {
    if map.capacity() > SPARE_MAP_FIELDS {
        return;
    }
    SPARE_MAPS_HERE.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut()
            && s.len() < SPARE_MAPS
        {
            map.clear();
            s.push(map);
        }
    });
}

/// Hop-by-hop fields (RFC 9110 §7.6.1): one connection's, never forwarded.
pub fn is_hop_by_hop(name: &http::HeaderName) -> bool {
    use http::header::{CONNECTION, TE, TRANSFER_ENCODING, UPGRADE};
    name == CONNECTION
        || name == TRANSFER_ENCODING
        || name == TE
        || name == UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The fields a message's `Connection` headers name, hop-by-hop too; empty (no
/// allocation) when it has no `Connection` header, the common case.
pub fn connection_named(headers: &http::HeaderMap) -> Vec<http::HeaderName> {
    use http::header::CONNECTION;
    if !headers.keys().any(|n| n == CONNECTION) {
        return Vec::new();
    }
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|n| http::HeaderName::try_from(n.trim()).ok())
        .collect()
}

/// Whether header name `name` (a token, as the parser let through) is `lower` in any
/// case, `lower` being lower-case letters and `-` of at least 8 bytes. Eight bytes at a
/// time: a token byte `b` matches such a byte `t` exactly when `b | 0x20 == t` (the only
/// other byte that gives `t` is `t ^ 0x20`: the upper-case letter, or CR for `-`, which
/// no token holds). ~4 instructions per 8 bytes where `eq_ignore_ascii_case` takes ~5 per
/// byte; the load engine compares every answer's headers with three or four names.
#[inline]
pub fn eq_token_lower(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower.len() >= 8 && lower.iter().all(|&b| b.is_ascii_lowercase() || b == b'-'));
    if name.len() != lower.len() || name.len() < 8 {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        u64::from_le_bytes([
            s[at],
            s[at + 1],
            s[at + 2],
            s[at + 3],
            s[at + 4],
            s[at + 5],
            s[at + 6],
            s[at + 7],
        ])
    };
    let last = name.len() - 8;
    let mut at = 0;
    // Whole words, then the last eight bytes (overlapping what came before).
    while at < last {
        if word(name, at) | 0x2020_2020_2020_2020 != word(lower, at) {
            return false;
        }
        at += 8;
    }
    word(name, last) | 0x2020_2020_2020_2020 == word(lower, last)
}
