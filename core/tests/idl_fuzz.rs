//! Hostile bytes never make the IDL and `any` decoders panic (or allocate wildly).
use proptest::prelude::*;
use tango_core::any::{CommandData, TypeCode};
use tango_core::cdr::{ByteOrder, CdrDecode, CdrReader, CdrWriter};
use tango_core::idl::*;

fn order(big: bool) -> ByteOrder {
    if big {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    }
}

fn decode_all(bytes: &[u8], o: ByteOrder) {
    let _ = TypeCode::decode(&mut CdrReader::new(bytes, o));
    let _ = CommandData::decode_any(&mut CdrReader::new(bytes, o));
    let _ = CommandData::decode_any_as(&mut CdrReader::new(bytes, o), CmdArgType::DevEnum);
    let _ = Vec::<AttributeValue5>::decode(&mut CdrReader::new(bytes, o));
    let _ = AttributeValue3::decode(&mut CdrReader::new(bytes, o));
    let _ = Vec::<AttributeValue4>::decode(&mut CdrReader::new(bytes, o));
    let _ = ClntIdent::decode(&mut CdrReader::new(bytes, o));
    let _ = Vec::<AttributeConfig5>::decode(&mut CdrReader::new(bytes, o));
    let _ = DevFailed::decode_exception(&mut CdrReader::new(bytes, o));
    let _ = DevInfo6::decode(&mut CdrReader::new(bytes, o));
    let _ = DevAttrHistory5::decode(&mut CdrReader::new(bytes, o));
}

/// Valid encodings to mutate: corrupting real structure reaches deeper code than noise.
fn seeds() -> Vec<Vec<u8>> {
    let values = [
        CommandData::State(DevState::On),
        CommandData::StateArray(vec![DevState::Alarm]),
        CommandData::LongStringArray(vec![1, 2], vec!["a".into()]),
        CommandData::DoubleArray(vec![1.0, 2.0]),
        CommandData::Encoded(DevEncoded {
            encoded_format: "x".into(),
            encoded_data: vec![1],
        }),
    ];
    let mut out: Vec<Vec<u8>> = values
        .iter()
        .map(|v| {
            let mut w = CdrWriter::new();
            v.encode_any(&mut w);
            w.into_bytes()
        })
        .collect();
    let mut w = CdrWriter::new();
    w.put(&vec![AttributeValue5 {
        value: AttrValUnion::String(vec!["s".into()]),
        name: "n".into(),
        err_list: vec![DevError::new("r", "d", "o")],
        ..Default::default()
    }]);
    out.push(w.into_bytes());
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), big in any::<bool>()) {
        decode_all(&bytes, order(big));
    }

    #[test]
    fn mutated_encodings_never_panic(
        seed in 0usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut b = seeds()[seed].clone();
        for (i, v) in flips {
            let n = b.len();
            b[i % n] = v;
        }
        let n = b.len();
        b.truncate(cut % (n + 1));
        decode_all(&b, ByteOrder::Little);
    }
}
