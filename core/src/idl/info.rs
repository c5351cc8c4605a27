//! Device and command descriptions: the `DevInfo` family (`info`, `info_3`, `info_6`) and
//! `DevCmdInfo` family (`command_query*`, `command_list_query*`).

use super::types::DispLevel;

crate::cdr_struct! {
    /// `DevInfo` (reply of the IDL 1 `info`, part of every connection handshake).
    pub struct DevInfo {
        /// Device class.
        pub dev_class: String,
        /// Server instance (`TangoTest/test`).
        pub server_id: String,
        /// Host the server runs on.
        pub server_host: String,
        /// The IDL version the server implements (5 or 6).
        pub server_version: i32,
        /// Documentation URL.
        pub doc_url: String,
    }
}

crate::cdr_struct! {
    /// `DevInfo_3` (reply of `info_3`).
    pub struct DevInfo3 {
        /// Device class.
        pub dev_class: String,
        /// Server instance.
        pub server_id: String,
        /// Host the server runs on.
        pub server_host: String,
        /// The IDL version the server implements.
        pub server_version: i32,
        /// Documentation URL.
        pub doc_url: String,
        /// Device type (`"Uninitialised"` from cppTango 9; the class name from pytango).
        pub dev_type: String,
    }
}

crate::cdr_struct! {
    /// One `(key, value)` of `DevInfo_6.version_info` (`("PyTango", "10.3.1")`).
    pub struct DevInfoVersion {
        /// Component name.
        pub key: String,
        /// Its version.
        pub value: String,
    }
}

crate::cdr_struct! {
    /// `DevInfo_6` (reply of the IDL 6 `info_6`; not in the published IDL 5 file, layout
    /// from the captures, wire-notes §6.8).
    pub struct DevInfo6 {
        /// Device class.
        pub dev_class: String,
        /// Server instance.
        pub server_id: String,
        /// Host the server runs on.
        pub server_host: String,
        /// The IDL version the server implements.
        pub server_version: i32,
        /// Documentation URL.
        pub doc_url: String,
        /// Device type.
        pub dev_type: String,
        /// Versions of the server's components.
        pub version_info: Vec<DevInfoVersion>,
    }
}

crate::cdr_struct! {
    /// `DevCmdInfo` (IDL 1 `command_query`).
    pub struct DevCmdInfo {
        /// Command name.
        pub cmd_name: String,
        /// Command tag.
        pub cmd_tag: i32,
        /// Argument type code ([`crate::idl::CmdArgType`]).
        pub in_type: i32,
        /// Result type code.
        pub out_type: i32,
        /// Argument description.
        pub in_type_desc: String,
        /// Result description.
        pub out_type_desc: String,
    }
}

crate::cdr_struct! {
    /// `DevCmdInfo_2` (`command_query_2`, `command_list_query_2`; used against IDL 6
    /// servers too).
    pub struct DevCmdInfo2 {
        /// Command name.
        pub cmd_name: String,
        /// Display level.
        pub level: DispLevel,
        /// Command tag.
        pub cmd_tag: i32,
        /// Argument type code ([`crate::idl::CmdArgType`]).
        pub in_type: i32,
        /// Result type code.
        pub out_type: i32,
        /// Argument description.
        pub in_type_desc: String,
        /// Result description.
        pub out_type_desc: String,
    }
}

crate::cdr_struct! {
    /// `DevCmdInfo_6`: `DevCmdInfo_2` plus enum labels (never seen on the wire).
    pub struct DevCmdInfo6 {
        /// Command name.
        pub cmd_name: String,
        /// Display level.
        pub level: DispLevel,
        /// Command tag.
        pub cmd_tag: i32,
        /// Argument type code.
        pub in_type: i32,
        /// Result type code.
        pub out_type: i32,
        /// Argument description.
        pub in_type_desc: String,
        /// Result description.
        pub out_type_desc: String,
        /// Labels when the argument is a `DevEnum`.
        pub in_enum_labels: Vec<String>,
        /// Labels when the result is a `DevEnum`.
        pub out_enum_labels: Vec<String>,
    }
}
