//! The draft's own examples, by decompress-and-compare: compressed bytes may legitimately
//! differ between ZLIB implementations and levels, so what is compared is always the
//! decompressed byte array and the statuses read from it (draft s11.1: "Implementations SHOULD
//! verify correctness using the test vectors given by this specification").
use immerse_status_list::{Bits, Status, StatusList};

/// Large enough for the 2^20-entry 8-bit vector (1 MiB), and no more.
const LIMIT: usize = 1 << 20;

struct Vector {
    name: &'static str,
    bits: Bits,
    size: usize,
    statuses: Vec<(usize, u8)>,
    lst: String,
}

/// Reads a vector file: `bits N`, `size N`, `status[i] = 0b...` lines as printed in the draft,
/// then `lst` followed by the draft's (line-wrapped) base64url text.
fn parse(name: &'static str, text: &str) -> Vector {
    let (mut bits, mut size, mut statuses, mut lst) = (None, None, Vec::new(), None::<String>);
    for line in text.lines().map(str::trim) {
        if let Some(lst) = lst.as_mut() {
            lst.push_str(line);
        } else if line.is_empty() || line.starts_with('#') {
        } else if let Some(value) = line.strip_prefix("bits ") {
            bits = Some(Bits::try_from(value.parse::<u8>().unwrap()).unwrap());
        } else if let Some(value) = line.strip_prefix("size ") {
            size = Some(value.parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("status[") {
            let (index, value) = rest.split_once(']').unwrap();
            let value = value
                .trim_start_matches([' ', '='])
                .trim_start_matches("0b");
            statuses.push((
                index.parse().unwrap(),
                u8::from_str_radix(value, 2).unwrap(),
            ));
        } else if line == "lst" {
            lst = Some(String::new());
        } else {
            panic!("{name}: unexpected line {line:?}");
        }
    }
    Vector {
        name,
        bits: bits.unwrap(),
        size: size.unwrap(),
        statuses,
        lst: lst.unwrap(),
    }
}

fn appendix_c() -> Vec<Vector> {
    vec![
        parse("C.1", include_str!("vectors/c1_1bit.txt")),
        parse("C.2", include_str!("vectors/c2_2bit.txt")),
        parse("C.3", include_str!("vectors/c3_4bit.txt")),
        parse("C.4", include_str!("vectors/c4_8bit.txt")),
    ]
}

/// The expected statuses of a vector as a dense array: listed values, every other entry VALID.
fn expected(vector: &Vector) -> Vec<u8> {
    let mut dense = vec![0u8; vector.size];
    for &(index, value) in &vector.statuses {
        dense[index] = value;
    }
    dense
}

fn statuses_of(list: &StatusList, len: usize) -> Vec<u8> {
    (0..len).map(|i| list.get(i).unwrap().value()).collect()
}

#[test]
fn appendix_c_vectors_decode_to_the_listed_statuses() {
    for vector in appendix_c() {
        let list = StatusList::from_lst(vector.bits, &vector.lst, LIMIT)
            .unwrap_or_else(|err| panic!("{}: {err}", vector.name));
        assert_eq!(list.len(), vector.size, "{}: entries", vector.name);
        assert_eq!(
            statuses_of(&list, vector.size),
            expected(&vector),
            "{}: statuses",
            vector.name
        );
        for &(index, value) in &vector.statuses {
            assert_eq!(
                list.get(index).unwrap(),
                Status::from(value),
                "{}",
                vector.name
            );
        }
    }
}

#[test]
fn appendix_c_statuses_encode_to_what_decodes_back() {
    for vector in appendix_c() {
        let mut list = StatusList::new(vector.bits, vector.size);
        for &(index, value) in &vector.statuses {
            list.set(index, Status::from(value)).unwrap();
        }
        let ours = list.to_lst().unwrap();
        let decoded = StatusList::from_lst(vector.bits, &ours, LIMIT).unwrap();
        assert_eq!(
            statuses_of(&decoded, vector.size),
            expected(&vector),
            "{}",
            vector.name
        );
        // And both encodings decompress to the same byte array.
        let theirs = StatusList::from_lst(vector.bits, &vector.lst, LIMIT).unwrap();
        assert_eq!(decoded.as_bytes(), theirs.as_bytes(), "{}", vector.name);
    }
}

/// One small example of draft s4.1/s4.2: bits, statuses, byte array, `lst`, compressed bytes.
type SmallExample = (
    Bits,
    &'static [u8],
    &'static [u8],
    &'static str,
    &'static [u8],
);

/// Draft s4.1 and s4.2: the two small examples, with their byte arrays, compressed hex and
/// JSON `lst`.
#[test]
fn section_4_examples() {
    let cases: [SmallExample; 2] = [
        (
            Bits::One,
            &[1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1],
            &[0xb9, 0xa3],
            "eNrbuRgAAhcBXQ",
            &[0x78, 0xda, 0xdb, 0xb9, 0x18, 0x00, 0x02, 0x17, 0x01, 0x5d],
        ),
        (
            Bits::Two,
            &[1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3],
            &[0xc9, 0x44, 0xf9],
            "eNo76fITAAPfAgc",
            &[
                0x78, 0xda, 0x3b, 0xe9, 0xf2, 0x13, 0x00, 0x03, 0xdf, 0x02, 0x07,
            ],
        ),
    ];
    for (bits, statuses, bytes, lst, compressed) in cases {
        let from_lst = StatusList::from_lst(bits, lst, LIMIT).unwrap();
        let from_hex = StatusList::from_compressed(bits, compressed, LIMIT).unwrap();
        assert_eq!(from_lst.as_bytes(), bytes);
        assert_eq!(from_hex.as_bytes(), bytes);
        assert_eq!(statuses_of(&from_lst, statuses.len()), statuses);

        let mut ours = StatusList::new(bits, statuses.len());
        for (index, value) in statuses.iter().enumerate() {
            ours.set(index, Status::from(*value)).unwrap();
        }
        assert_eq!(ours.as_bytes(), bytes);
        let again = StatusList::from_lst(bits, &ours.to_lst().unwrap(), LIMIT).unwrap();
        assert_eq!(again.as_bytes(), bytes);
    }
}

/// The JSON StatusList of draft s4.2 and the claims of the s5.1 example token.
#[test]
fn section_5_1_example_claims_parse() {
    let claims = serde_json::json!({
        "exp": 2291720170u64,
        "iat": 1686920170,
        "status_list": {"bits": 1, "lst": "eNrbuRgAAhcBXQ"},
        "sub": "https://example.com/statuslists/1",
        "ttl": 43200
    });
    let list = StatusList::from_json(&claims["status_list"], LIMIT).unwrap();
    assert_eq!(list.bits(), Bits::One);
    assert_eq!(list.get(0).unwrap(), Status::Invalid);
    assert_eq!(list.get(1).unwrap(), Status::Valid);
    assert_eq!(list.len(), 16);
}
