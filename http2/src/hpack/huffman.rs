//! HPACK's Huffman code (RFC 7541 §5.2, Appendix B): a decoder that walks the code's
//! tree four bits at a time through a table built once from the published code, and
//! an encoder.
//!
//! Strict (§5.2): EOS inside a string, padding longer than seven bits, or padding that
//! is not the most significant bits of EOS (all ones) is an error.

use std::sync::OnceLock;

use super::huffman_codes::CODES;

/// A nibble's step from a state (an inner node of the code's tree).
#[derive(Clone, Copy, Default)]
struct Step {
    /// The state after the nibble.
    next: u8,
    /// The symbol completed inside the nibble (at most one: codes have 5 bits or more).
    sym: u8,
    flags: u8,
}

const EMIT: u8 = 1;
/// The string may end here: the bits since the last symbol are a valid padding.
const ACCEPT: u8 = 2;
/// EOS was decoded: an error.
const FAIL: u8 = 4;

struct Table {
    steps: Vec<[Step; 16]>,
}

#[derive(Clone, Copy)]
enum Child {
    Node(u16),
    Leaf(u16),
    None,
}

fn build() -> Table {
    // The tree: inner nodes, each with two children.
    let mut nodes: Vec<[Child; 2]> = vec![[Child::None, Child::None]];
    for (sym, &(bits, code)) in CODES.iter().enumerate() {
        let mut at = 0usize;
        for i in (0..bits).rev() {
            let bit = ((code >> i) & 1) as usize;
            if i == 0 {
                nodes[at][bit] = Child::Leaf(sym as u16);
            } else {
                at = match nodes[at][bit] {
                    Child::Node(n) => n as usize,
                    _ => {
                        nodes.push([Child::None, Child::None]);
                        let n = nodes.len() - 1;
                        nodes[at][bit] = Child::Node(n as u16);
                        n
                    }
                };
            }
        }
    }
    assert_eq!(
        nodes.len(),
        256,
        "a complete code of 257 symbols has 256 inner nodes"
    );
    // Nodes reached from the root by 1 bits only, fewer than 8: valid padding ends.
    let mut pad_ok = vec![false; nodes.len()];
    let mut at = 0usize;
    for _ in 0..8 {
        pad_ok[at] = true;
        match nodes[at][1] {
            Child::Node(n) => at = n as usize,
            _ => break,
        }
    }
    let steps = (0..nodes.len())
        .map(|state| {
            let mut row = [Step::default(); 16];
            for (nibble, step) in row.iter_mut().enumerate() {
                let mut at = state;
                for i in (0..4).rev() {
                    match nodes[at][(nibble >> i) & 1] {
                        Child::Node(n) => at = n as usize,
                        Child::Leaf(256) | Child::None => {
                            step.flags |= FAIL;
                            break;
                        }
                        Child::Leaf(sym) => {
                            step.flags |= EMIT;
                            step.sym = sym as u8;
                            at = 0;
                        }
                    }
                }
                step.next = at as u8;
                if pad_ok[at] {
                    step.flags |= ACCEPT;
                }
            }
            row
        })
        .collect();
    Table { steps }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// Why a Huffman string cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// EOS inside the string.
    Eos,
    /// Padding longer than 7 bits, or not all ones.
    Padding,
}

/// Decode `src` onto `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let steps = &table().steps;
    out.reserve(src.len() + src.len() / 2);
    let mut state = 0usize;
    let mut accept = true;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = steps[state][nibble as usize];
            if step.flags & FAIL != 0 {
                return Err(HuffmanError::Eos);
            }
            if step.flags & EMIT != 0 {
                out.push(step.sym);
            }
            state = step.next as usize;
            accept = step.flags & ACCEPT != 0;
        }
    }
    if accept {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

/// The length of `src` Huffman-encoded, in bytes.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| CODES[b as usize].0 as usize).sum();
    bits.div_ceil(8)
}

/// Encode `src` onto `out` (padded with the most significant bits of EOS).
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    for &b in src {
        let (bits, code) = CODES[b as usize];
        acc = (acc << bits) | u64::from(code);
        n += u32::from(bits);
        while n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
        acc &= (1u64 << n) - 1;
    }
    if n > 0 {
        out.push(((acc << (8 - n)) | (0xff >> n)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_rfc_7541_appendix_c4_strings_decode_and_encode() {
        // RFC 7541 C.4.1–C.4.3 and C.6.1 (published encodings).
        let cases = [
            ("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"),
            ("a8eb 1064 9cbf", "no-cache"),
            ("25a8 49e9 5ba9 7d7f", "custom-key"),
            ("25a8 49e9 5bb8 e8b4 bf", "custom-value"),
            ("6402", "302"),
            ("aec3 771a 4b", "private"),
            (
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
                "Mon, 21 Oct 2013 20:13:21 GMT",
            ),
            (
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
                "https://www.example.com",
            ),
        ];
        for (code, text) in cases {
            let mut out = Vec::new();
            decode(&hex(code), &mut out).unwrap();
            assert_eq!(out, text.as_bytes());
            let mut enc = Vec::new();
            encode(text.as_bytes(), &mut enc);
            assert_eq!(enc, hex(code), "{text}");
            assert_eq!(encoded_len(text.as_bytes()), enc.len());
        }
    }

    #[test]
    fn eos_and_bad_padding_are_refused() {
        let mut out = Vec::new();
        // EOS is 30 ones: in a string it is an error.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::Eos)
        );
        // '0' is 00000: padded with three ones is fine, with zeros is not.
        out.clear();
        assert_eq!(decode(&[0x07], &mut out), Ok(()));
        assert_eq!(out, b"0");
        assert_eq!(decode(&[0x00], &mut out), Err(HuffmanError::Padding));
        // A whole byte of padding (8 ones) after a symbol is too long.
        assert_eq!(decode(&[0x07, 0xff], &mut out), Err(HuffmanError::Padding));
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        let mut out = Vec::new();
        decode(&enc, &mut out).unwrap();
        assert_eq!(out, all);
    }
}
