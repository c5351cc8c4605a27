//! The capture reader finds the messages the wire notes describe.
mod support;

#[test]
fn reads_the_double_scalar_capture() {
    let msgs = support::messages("pytango10-to-tangotest934-read-double-scalar.pcap");
    let ops: Vec<String> = msgs
        .iter()
        .filter(|m| m.from_client)
        .filter_map(|m| support::operation_of(&m.bytes))
        .collect();
    assert_eq!(
        ops,
        [
            "_is_a",
            "_is_a",
            "_non_existent",
            "info",
            "read_attributes_5"
        ]
    );
    assert_eq!(msgs.len(), 10);
}
