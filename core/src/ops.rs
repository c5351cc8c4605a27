//! Each Tango operation as a value: its GIOP operation name, how its arguments encode and
//! how its result decodes.
//!
//! An operation is plain data (`ReadAttributes5 { names, source, ident }`), so every
//! adapter (blocking, async, coroutine) sends the same bytes: it hands the value to
//! [`crate::client::ClientConnection::encode_request`] and later decodes the reply with
//! [`Operation::decode_result`]. The server side decodes the same arguments with
//! [`OperationArgs::decode_args`].

use crate::any::CommandData;
use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};
use crate::idl::{
    AttributeConfig2, AttributeConfig3, AttributeConfig5, AttributeValue3, AttributeValue4,
    AttributeValue5, ClntIdent, DevCmdInfo, DevCmdInfo2, DevInfo, DevInfo3, DevInfo6, DevSource,
    DevState,
};

/// A Tango (or CORBA pseudo-) operation a client can invoke.
pub trait Operation {
    /// What a successful reply carries.
    type Output;
    /// The GIOP operation name (`read_attributes_5`, `_is_a`, `_get_state`...).
    fn name(&self) -> &'static str;
    /// Appends the in-arguments.
    fn encode_args(&self, w: &mut CdrWriter);
    /// Reads the result from a NO_EXCEPTION reply body.
    fn decode_result(r: &mut CdrReader<'_>) -> DecodeResult<Self::Output>;
}

/// The arguments of an operation as a server decodes them.
pub trait OperationArgs: Sized {
    /// Reads the in-arguments of a request body.
    fn decode_args(r: &mut CdrReader<'_>) -> DecodeResult<Self>;
}

/// Declares an operation struct, its [`Operation`] impl and its [`OperationArgs`] impl.
macro_rules! operation {
    (
        $(#[$m:meta])*
        $name:ident = $op:literal { $($(#[$fm:meta])* $field:ident : $t:ty),* $(,)? } -> $out:ty
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name { $($(#[$fm])* #[doc = concat!("The `", stringify!($field), "` argument.")] pub $field: $t),* }
        impl Operation for $name {
            type Output = $out;
            fn name(&self) -> &'static str { $op }
            #[allow(unused_variables)]
            fn encode_args(&self, w: &mut CdrWriter) {
                $( CdrEncode::encode(&self.$field, w); )*
            }
            fn decode_result(r: &mut CdrReader<'_>) -> DecodeResult<$out> {
                <$out as CdrDecode>::decode(r)
            }
        }
        impl OperationArgs for $name {
            #[allow(unused_variables)]
            fn decode_args(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
                Ok(Self { $($field: CdrDecode::decode(r)?),* })
            }
        }
    };
}

/// `void` results decode from an empty body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Void;

impl CdrDecode for Void {
    const MIN_SIZE: usize = 0;
    fn decode(_: &mut CdrReader<'_>) -> DecodeResult<Self> {
        Ok(Void)
    }
}
impl CdrEncode for Void {
    fn encode(&self, _: &mut CdrWriter) {}
}

impl CdrEncode for CommandData {
    fn encode(&self, w: &mut CdrWriter) {
        self.encode_any(w)
    }
}
impl CdrDecode for CommandData {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        CommandData::decode_any(r)
    }
}

/// Repository id of the Tango `Device` interface with IDL version `v` (1 is plain `Device`).
pub fn device_repo_id(v: u32) -> String {
    if v <= 1 {
        "IDL:Tango/Device:1.0".to_owned()
    } else {
        format!("IDL:Tango/Device_{v}:1.0")
    }
}

operation! {
    /// `_is_a(repository id)`: does the object implement that interface? The client asks
    /// `Device_6`, then `Device_5`, ... to learn the server's IDL version.
    IsA = "_is_a" { repo_id: String } -> bool
}
operation! {
    /// `_non_existent()`: false for a live object (part of cppTango's handshake).
    NonExistent = "_non_existent" {} -> bool
}
operation! {
    /// `ping()`.
    Ping = "ping" {} -> Void
}
operation! {
    /// IDL 1 `info()`, used by the handshake.
    Info = "info" {} -> DevInfo
}
operation! {
    /// `info_3()` (IDL 3 to 5 servers).
    Info3 = "info_3" {} -> DevInfo3
}
operation! {
    /// `info_6()` (IDL 6 servers): adds `version_info`.
    Info6 = "info_6" {} -> DevInfo6
}
operation! {
    /// The `state` attribute of the Device interface.
    GetState = "_get_state" {} -> DevState
}
operation! {
    /// The `status` attribute of the Device interface.
    GetStatus = "_get_status" {} -> String
}
operation! {
    /// The `name` attribute of the Device interface.
    GetName = "_get_name" {} -> String
}
operation! {
    /// The `description` attribute of the Device interface.
    GetDescription = "_get_description" {} -> String
}
operation! {
    /// The `adm_name` attribute of the Device interface (the admin device's name).
    GetAdmName = "_get_adm_name" {} -> String
}
operation! {
    /// `black_box(n)`: the last `n` requests the device received, as text lines.
    BlackBox = "black_box" { n: i32 } -> Vec<String>
}
operation! {
    /// `read_attributes_5(names, source, ident)` (IDL 5 and 6).
    ReadAttributes5 = "read_attributes_5" { names: Vec<String>, source: DevSource, ident: ClntIdent } -> Vec<AttributeValue5>
}
operation! {
    /// `read_attributes_4(names, source, ident)` (IDL 4).
    ReadAttributes4 = "read_attributes_4" { names: Vec<String>, source: DevSource, ident: ClntIdent } -> Vec<AttributeValue4>
}
operation! {
    /// `read_attributes_3(names, source)` (IDL 3).
    ReadAttributes3 = "read_attributes_3" { names: Vec<String>, source: DevSource } -> Vec<AttributeValue3>
}
operation! {
    /// `write_attributes_4(values, ident)` (IDL 4 and later).
    WriteAttributes4 = "write_attributes_4" { values: Vec<AttributeValue4>, ident: ClntIdent } -> Void
}
operation! {
    /// `write_read_attributes_5(values, read names, ident)` (IDL 5 and 6).
    WriteReadAttributes5 = "write_read_attributes_5" { values: Vec<AttributeValue4>, r_names: Vec<String>, ident: ClntIdent } -> Vec<AttributeValue5>
}
operation! {
    /// `write_read_attributes_4(values, ident)` (IDL 4).
    WriteReadAttributes4 = "write_read_attributes_4" { values: Vec<AttributeValue4>, ident: ClntIdent } -> Vec<AttributeValue4>
}
operation! {
    /// `command_inout_4(command, argin, source, ident)` (IDL 4 and later).
    CommandInout4 = "command_inout_4" { command: String, argin: CommandData, source: DevSource, ident: ClntIdent } -> CommandData
}
operation! {
    /// `command_inout_2(command, argin, source)` (IDL 2 and 3).
    CommandInout2 = "command_inout_2" { command: String, argin: CommandData, source: DevSource } -> CommandData
}
operation! {
    /// IDL 1 `command_inout(command, argin)`.
    CommandInout = "command_inout" { command: String, argin: CommandData } -> CommandData
}
operation! {
    /// `command_query_2(command)`.
    CommandQuery2 = "command_query_2" { command: String } -> DevCmdInfo2
}
operation! {
    /// IDL 1 `command_query(command)`.
    CommandQuery = "command_query" { command: String } -> DevCmdInfo
}
operation! {
    /// `command_list_query_2()`.
    CommandListQuery2 = "command_list_query_2" {} -> Vec<DevCmdInfo2>
}
operation! {
    /// `get_attribute_config_5(names)` (IDL 5 and 6). The single name
    /// `"All attributes_3"` asks for every attribute.
    GetAttributeConfig5 = "get_attribute_config_5" { names: Vec<String> } -> Vec<AttributeConfig5>
}
operation! {
    /// `get_attribute_config_3(names)` (IDL 3 and 4).
    GetAttributeConfig3 = "get_attribute_config_3" { names: Vec<String> } -> Vec<AttributeConfig3>
}
operation! {
    /// `get_attribute_config_2(names)`: what `attribute_list_query()` uses.
    GetAttributeConfig2 = "get_attribute_config_2" { names: Vec<String> } -> Vec<AttributeConfig2>
}
operation! {
    /// `set_attribute_config_5(configs, ident)` (IDL 5 and 6).
    SetAttributeConfig5 = "set_attribute_config_5" { configs: Vec<AttributeConfig5>, ident: ClntIdent } -> Void
}
operation! {
    /// `set_attribute_config_4(configs, ident)` (IDL 4): the IDL 3 configurations with the
    /// client's identity.
    SetAttributeConfig4 = "set_attribute_config_4" { configs: Vec<AttributeConfig3>, ident: ClntIdent } -> Void
}
operation! {
    /// `set_attribute_config_3(configs)` (IDL 3).
    SetAttributeConfig3 = "set_attribute_config_3" { configs: Vec<AttributeConfig3> } -> Void
}

/// The name cppTango uses to ask for every attribute's configuration.
pub const ALL_ATTRIBUTES: &str = "All attributes_3";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::ByteOrder;

    #[test]
    fn read_attributes_5_args_roundtrip() {
        let op = ReadAttributes5 {
            names: vec!["double_scalar".into()],
            source: DevSource::CacheDev,
            ident: ClntIdent::Cpp(347),
        };
        let mut w = CdrWriter::new();
        op.encode_args(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(ReadAttributes5::decode_args(&mut r).unwrap(), op);
        assert_eq!(r.remaining(), 0);
        assert_eq!(op.name(), "read_attributes_5");
    }

    fn config_5() -> AttributeConfig5 {
        use crate::idl::{AttrDataFormat, AttrWriteType, DispLevel};
        let mut c = AttributeConfig5 {
            name: "ab".into(),
            writable: AttrWriteType::ReadWrite,
            data_format: AttrDataFormat::Scalar,
            data_type: 5,
            memorized: true,
            mem_init: false,
            max_dim_x: 1,
            label: "Ab".into(),
            unit: "mm".into(),
            format: "%6.2f".into(),
            min_value: "-10".into(),
            max_value: "10".into(),
            level: DispLevel::Expert,
            enum_labels: vec!["x".into()],
            extensions: vec!["e".into()],
            ..Default::default()
        };
        c.att_alarm.min_alarm = "-5".into();
        c.att_alarm.max_alarm = "5".into();
        c.event_prop.arch_event.period = "1000".into();
        c
    }

    fn config_3() -> AttributeConfig3 {
        AttributeConfig3::from(config_5())
    }

    fn args_of<O: Operation>(op: &O) -> Vec<u8> {
        let mut w = CdrWriter::new();
        op.encode_args(&mut w);
        w.into_bytes()
    }

    fn encoded<T: CdrEncode>(v: &T) -> Vec<u8> {
        let mut w = CdrWriter::new();
        v.encode(&mut w);
        w.into_bytes()
    }

    /// The start of an `AttributeConfigList` holding one configuration named "ab": the
    /// sequence length, the name (length 3 with its NUL, one pad byte), `writable`
    /// (READ_WRITE = 3), `data_format` (SCALAR = 0), `data_type` (DevDouble = 5).
    const LIST_HEAD: [u8; 24] = [
        1, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0,
    ];

    #[test]
    fn set_attribute_config_5_args() {
        let op = SetAttributeConfig5 {
            configs: vec![config_5()],
            ident: ClntIdent::for_idl(6, 347),
        };
        assert_eq!(op.name(), "set_attribute_config_5");
        let bytes = args_of(&op);
        assert_eq!(bytes[..24], LIST_HEAD);
        // `memorized`, `mem_init`, two pad bytes, then `max_dim_x`.
        assert_eq!(bytes[24..32], [1, 0, 0, 0, 1, 0, 0, 0]);
        // The IDL layout: the configuration sequence, then the client identity.
        let mut expected = encoded(&op.configs);
        expected.extend(encoded(&op.ident));
        assert_eq!(bytes, expected);
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert_eq!(SetAttributeConfig5::decode_args(&mut r).unwrap(), op);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn set_attribute_config_4_args() {
        let op = SetAttributeConfig4 {
            configs: vec![config_3()],
            ident: ClntIdent::Cpp(0x0102_0304),
        };
        assert_eq!(op.name(), "set_attribute_config_4");
        let bytes = args_of(&op);
        assert_eq!(bytes[..24], LIST_HEAD);
        // No memorized flags in AttributeConfig_3: `max_dim_x` follows `data_type`.
        assert_eq!(bytes[24..28], [1, 0, 0, 0]);
        // The union ends the body: discriminant CPP (0), then the process id.
        assert_eq!(bytes[bytes.len() - 8..], [0, 0, 0, 0, 4, 3, 2, 1]);
        let mut expected = encoded(&op.configs);
        expected.extend(encoded(&op.ident));
        assert_eq!(bytes, expected);
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert_eq!(SetAttributeConfig4::decode_args(&mut r).unwrap(), op);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn set_attribute_config_3_args() {
        let op = SetAttributeConfig3 {
            configs: vec![config_3(), AttributeConfig3::default()],
        };
        assert_eq!(op.name(), "set_attribute_config_3");
        let bytes = args_of(&op);
        assert_eq!(bytes[4..24], LIST_HEAD[4..]);
        assert_eq!(bytes[..4], [2, 0, 0, 0]);
        assert_eq!(bytes, encoded(&op.configs));
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert_eq!(SetAttributeConfig3::decode_args(&mut r).unwrap(), op);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn set_attribute_config_results_are_void() {
        let mut r = CdrReader::new(&[], ByteOrder::Little);
        assert_eq!(SetAttributeConfig5::decode_result(&mut r).unwrap(), Void);
        assert_eq!(SetAttributeConfig4::decode_result(&mut r).unwrap(), Void);
        assert_eq!(SetAttributeConfig3::decode_result(&mut r).unwrap(), Void);
    }

    #[test]
    fn truncated_set_attribute_config_is_an_error() {
        let op = SetAttributeConfig4 {
            configs: vec![config_3()],
            ident: ClntIdent::Cpp(1),
        };
        let bytes = args_of(&op);
        for cut in [0, 3, 24, bytes.len() - 1] {
            let mut r = CdrReader::new(&bytes[..cut], ByteOrder::Little);
            assert!(
                SetAttributeConfig4::decode_args(&mut r).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn repo_ids() {
        assert_eq!(device_repo_id(1), "IDL:Tango/Device:1.0");
        assert_eq!(device_repo_id(6), "IDL:Tango/Device_6:1.0");
    }
}
