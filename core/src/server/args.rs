//! Server-side arguments of the operations [`crate::ops`] does not declare (old IDL
//! versions, histories, `set_attribute_config_3/4`...).

use crate::cdr::{CdrDecode, CdrReader, DecodeResult};
use crate::idl::{AttributeConfig, AttributeConfig3, AttributeValue, ClntIdent, DevSource};
use crate::ops::OperationArgs;

macro_rules! server_args {
    ($( $(#[$m:meta])* $name:ident { $($field:ident : $t:ty),* $(,)? } )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub(crate) struct $name { $(pub(crate) $field: $t),* }
        impl OperationArgs for $name {
            #[allow(unused_variables)]
            fn decode_args(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
                Ok(Self { $($field: CdrDecode::decode(r)?),* })
            }
        }
    )*};
}

server_args! {
    /// `read_attributes(names)` (IDL 1).
    ReadAttributes1 { names: Vec<String> }
    /// `read_attributes_2(names, source)` and `read_attributes_3(names, source)`.
    ReadAttributes2 { names: Vec<String>, source: DevSource }
    /// `write_attributes(values)` (IDL 1) and `write_attributes_3(values)`.
    WriteAttributes1 { values: Vec<AttributeValue> }
    /// `get_attribute_config(names)` (IDL 1), `_2`, `_3`, `_5`.
    Names { names: Vec<String> }
    /// `set_attribute_config(configs)` (IDL 1).
    SetAttributeConfig1 { configs: Vec<AttributeConfig> }
    /// `set_attribute_config_3(configs)`.
    SetAttributeConfig3 { configs: Vec<AttributeConfig3> }
    /// `set_attribute_config_4(configs, ident)`.
    SetAttributeConfig4 { configs: Vec<AttributeConfig3>, ident: ClntIdent }
    /// `command_query*(name)`.
    CmdName { command: String }
    /// `read_attribute_history_*(name, n)` and `command_inout_history_*(name, n)`.
    History { name: String, n: i32 }
    /// Operations without arguments.
    NoArgs {}
}
