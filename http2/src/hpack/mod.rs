//! HPACK (RFC 7541): the strict decoder of answers' header blocks and the encoder of
//! requests' ones, on the static and dynamic tables and the Huffman code.

mod decoder;
mod encoder;
pub mod huffman;
mod huffman_codes;
mod table;

pub use decoder::{DecodeError, Decoder};
pub use encoder::Encoder;

#[cfg(test)]
mod tests;
