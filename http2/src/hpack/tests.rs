//! HPACK against RFC 7541 Appendix C (published encodings, lists and table sizes), and
//! the decoder on arbitrary bytes (never a panic).

use proptest::prelude::*;

use super::decoder::integer;
use super::encoder::put_integer;
use super::{DecodeError, Decoder, Encoder};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn decode(d: &mut Decoder, block: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    d.decode(&hex(block), |n, v| {
        out.push((
            String::from_utf8(n.to_vec()).unwrap(),
            String::from_utf8(v.to_vec()).unwrap(),
        ));
    })
    .unwrap();
    out
}

fn list(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    (0..d.table_state().0)
        .map(|i| {
            let (n, v) = d.table_entry(i).unwrap();
            (
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn c1_integers() {
    // C.1.1: 10 on a 5-bit prefix; C.1.2: 1337 on 5 bits; C.1.3: 42 on 8 bits.
    for (value, n, bytes) in [
        (10, 5, vec![0x0a]),
        (1337, 5, vec![0x1f, 0x9a, 0x0a]),
        (42, 8, vec![0x2a]),
    ] {
        let mut out = Vec::new();
        put_integer(&mut out, 0, n, value);
        assert_eq!(out, bytes);
        let mut pos = 0;
        assert_eq!(integer(&bytes, &mut pos, n), Ok(value));
        assert_eq!(pos, bytes.len());
    }
}

#[test]
fn c2_single_representations() {
    // C.2.1 literal with indexing: custom-key: custom-header, table size 55.
    let mut d = Decoder::new(4096, 1 << 16);
    let got = decode(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    );
    assert_eq!(got, list(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_state(), (1, 55));
    // C.2.2 literal without indexing: :path /sample/path, table empty.
    let mut d = Decoder::new(4096, 1 << 16);
    let got = decode(&mut d, "040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(got, list(&[(":path", "/sample/path")]));
    assert_eq!(d.table_state(), (0, 0));
    // C.2.3 never indexed: password: secret.
    let got = decode(&mut d, "1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(got, list(&[("password", "secret")]));
    assert_eq!(d.table_state(), (0, 0));
    // C.2.4 indexed: :method GET.
    assert_eq!(decode(&mut d, "82"), list(&[(":method", "GET")]));
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(decode(&mut d, blocks[0]), list(REQ1));
    assert_eq!(d.table_state(), (1, 57));
    assert_eq!(decode(&mut d, blocks[1]), list(REQ2));
    assert_eq!(d.table_state(), (2, 110));
    assert_eq!(decode(&mut d, blocks[2]), list(REQ3));
    assert_eq!(d.table_state(), (3, 164));
    assert_eq!(
        table(&d),
        list(&[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ])
    );
}

#[test]
fn c3_requests_without_huffman() {
    requests([
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    requests([
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]);
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn responses(blocks: [&str; 3]) {
    // SETTINGS_HEADER_TABLE_SIZE 256: the responses evict entries.
    let mut d = Decoder::new(256, 1 << 16);
    let r1 = [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", DATE1),
        ("location", LOC),
    ];
    assert_eq!(decode(&mut d, blocks[0]), list(&r1));
    assert_eq!(d.table_state(), (4, 222));
    let r2 = [
        (":status", "307"),
        ("cache-control", "private"),
        ("date", DATE1),
        ("location", LOC),
    ];
    assert_eq!(decode(&mut d, blocks[1]), list(&r2));
    assert_eq!(d.table_state(), (4, 222));
    assert_eq!(
        table(&d),
        list(&[
            (":status", "307"),
            ("location", LOC),
            ("date", DATE1),
            ("cache-control", "private"),
        ])
    );
    let r3 = [
        (":status", "200"),
        ("cache-control", "private"),
        ("date", DATE2),
        ("location", LOC),
        ("content-encoding", "gzip"),
        ("set-cookie", COOKIE),
    ];
    assert_eq!(decode(&mut d, blocks[2]), list(&r3));
    assert_eq!(d.table_state(), (3, 215));
    assert_eq!(
        table(&d),
        list(&[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", DATE2),
        ])
    );
}

#[test]
fn c5_responses_without_huffman() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

fn error_of(block: &[u8], allowed: usize) -> DecodeError {
    Decoder::new(allowed, 1 << 16)
        .decode(block, |_, _| {})
        .unwrap_err()
}

#[test]
fn malformed_blocks_are_errors() {
    assert_eq!(error_of(&[0x80], 4096), DecodeError::Index);
    // 62: the dynamic table is empty.
    assert_eq!(error_of(&[0xbe], 4096), DecodeError::Index);
    // A literal whose value runs past the block.
    assert_eq!(error_of(&hex("400a 6375"), 4096), DecodeError::Truncated);
    // An integer whose continuation never ends, and one past the limit.
    assert_eq!(error_of(&[0xff, 0xff], 4096), DecodeError::Truncated);
    assert_eq!(
        error_of(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 4096),
        DecodeError::Integer
    );
    // A size update past the announced size, and one after a field.
    assert_eq!(error_of(&hex("3fe2 1f"), 4096), DecodeError::SizeUpdate);
    assert_eq!(error_of(&hex("82 20"), 4096), DecodeError::LateSizeUpdate);
    // A Huffman value holding EOS.
    assert!(matches!(
        error_of(&hex("0f28 84ff ffff ff"), 4096),
        DecodeError::Huffman(_)
    ));
    // A string past the decoder's limit.
    let mut d = Decoder::new(4096, 4);
    assert_eq!(
        d.decode(&hex("0f28 05 6162 6364 65"), |_, _| {}),
        Err(DecodeError::StringTooLong)
    );
}

#[test]
fn a_size_update_at_the_start_shrinks_the_table() {
    let mut d = Decoder::new(4096, 1 << 16);
    decode(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    );
    assert_eq!(d.table_state(), (1, 55));
    // Size update to 0 then back to 4096, then an indexed field.
    assert_eq!(decode(&mut d, "20 3fe1 1f 82"), list(&[(":method", "GET")]));
    assert_eq!(d.table_state(), (0, 0));
    assert_eq!(d.table_max(), 4096);
}

#[test]
fn the_encoder_indexes_constant_fields_and_not_varying_ones() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096, 1 << 16);
    let mut sizes = Vec::new();
    for seq in 0..5 {
        let mut block = Vec::new();
        e.begin(&mut block);
        let path = format!("/r/{seq}");
        let fields = [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "127.0.0.1:8080"),
            (":path", path.as_str()),
            ("User-Agent", "ninefold"),
            ("x-seq", &path[3..]),
        ];
        for (n, v) in fields {
            e.field(&mut block, n.as_bytes(), v.as_bytes());
        }
        let mut got = Vec::new();
        d.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec())))
            .unwrap();
        let want: Vec<_> = fields
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase().into_bytes(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want, "request {seq}");
        assert_eq!(e.table_state(), d.table_state(), "the tables agree");
        sizes.push(block.len());
    }
    // From the third request on (path and x-seq known to vary): :method, :scheme,
    // :authority and user-agent are one byte each; :path "/r/N" is 1 + 1 + 4 bytes
    // and x-seq "N" a literal with a new name: 1 + 1 + 5 + 1 + 1.
    assert_eq!(sizes[2..], [4 + 6 + 9, 4 + 6 + 9, 4 + 6 + 9]);
}

#[test]
fn a_smaller_peer_table_is_announced_and_followed() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096, 1 << 16);
    let mut block = Vec::new();
    e.begin(&mut block);
    e.field(&mut block, b"user-agent", b"ninefold");
    d.decode(&block, |_, _| {}).unwrap();
    e.set_peer_table_size(0);
    let mut block = Vec::new();
    e.begin(&mut block);
    e.field(&mut block, b"user-agent", b"ninefold");
    assert_eq!(block[0], 0x20, "a size update to 0 first");
    let mut got = Vec::new();
    d.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec())))
        .unwrap();
    assert_eq!(got, [(b"user-agent".to_vec(), b"ninefold".to_vec())]);
    assert_eq!(d.table_state(), (0, 0));
    assert_eq!(e.table_state(), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn arbitrary_bytes_never_panic(block in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut d = Decoder::new(4096, 1024);
        let mut n = 0usize;
        let _ = d.decode(&block, |name, value| n += name.len() + value.len());
        let (_, size) = d.table_state();
        prop_assert!(size <= 4096);
    }

    #[test]
    fn arbitrary_huffman_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut out = Vec::new();
        let _ = super::huffman::decode(&s, &mut out);
        prop_assert!(out.len() <= s.len() * 8 / 5);
    }

    #[test]
    fn encoded_fields_decode_to_themselves(
        fields in proptest::collection::vec(("[a-z-]{1,12}", "[ -~]{0,40}"), 1..20)
    ) {
        let mut e = Encoder::new();
        let mut d = Decoder::new(4096, 1 << 16);
        for _ in 0..3 {
            let mut block = Vec::new();
            e.begin(&mut block);
            for (n, v) in &fields {
                e.field(&mut block, n.as_bytes(), v.as_bytes());
            }
            let mut got = Vec::new();
            d.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec()))).unwrap();
            let want: Vec<_> = fields.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(e.table_state(), d.table_state());
        }
    }
}
