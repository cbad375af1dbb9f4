//! Deterministic random streams: the fault proxy's seed → per proxy (by name)
//! → per connection (by accept order) → per chain (by direction). Two runs
//! with the same seed and the same connection order make the same toxicity
//! rolls and the same jitter, whatever the timing. (The reference's `-seed` flag has no
//! effect; this one does.)

use super::Stream;

/// SplitMix64's finalizer: a good 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The seed of proxy `name` under the fault proxy's seed `root`.
pub(crate) fn proxy_seed(root: u64, name: &str) -> u64 {
    mix(root ^ mix(fnv1a(name.as_bytes())))
}

/// The seed of one chain: connection `conn` (0-based accept order) of a proxy.
pub(crate) fn chain_seed(proxy: u64, conn: u64, stream: Stream) -> u64 {
    let dir = match stream {
        Stream::Upstream => 1,
        Stream::Downstream => 2,
    };
    mix(mix(proxy ^ mix(conn)) ^ dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_input_and_repeat_exactly() {
        let p = proxy_seed(7, "api_be1");
        assert_eq!(p, proxy_seed(7, "api_be1"));
        assert_ne!(p, proxy_seed(8, "api_be1"));
        assert_ne!(p, proxy_seed(7, "api_be2"));
        let up = chain_seed(p, 0, Stream::Upstream);
        assert_ne!(up, chain_seed(p, 0, Stream::Downstream));
        assert_ne!(up, chain_seed(p, 1, Stream::Upstream));
        assert_eq!(up, chain_seed(p, 0, Stream::Upstream));
    }
}
