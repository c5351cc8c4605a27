//! What a device says about itself: [`DeviceInfo`], [`CommandInfo`], [`AttributeInfo`]
//! and [`AttributeInfoEx`], named and shaped as in PyTango.

use tango_core::idl::{
    AttrDataFormat, AttrWriteType, AttributeAlarm, AttributeConfig2, AttributeConfig3,
    AttributeConfig5, CmdArgType, DevCmdInfo2, DevInfo3, DevInfo6, DispLevel, EventProperties,
};

/// `DeviceProxy::info()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device's class.
    pub dev_class: String,
    /// `executable/instance` of its server.
    pub server_id: String,
    /// Host the server runs on.
    pub server_host: String,
    /// The server's IDL version (5 for cppTango 9, 6 for cppTango 10).
    pub server_version: i32,
    /// Documentation URL.
    pub doc_url: String,
    /// Device type.
    pub dev_type: String,
    /// Library versions (IDL 6 servers only): `("cppTango", "10.3.3")`...
    pub version_info: Vec<(String, String)>,
}

impl From<DevInfo3> for DeviceInfo {
    fn from(i: DevInfo3) -> Self {
        DeviceInfo {
            dev_class: i.dev_class,
            server_id: i.server_id,
            server_host: i.server_host,
            server_version: i.server_version,
            doc_url: i.doc_url,
            dev_type: i.dev_type,
            version_info: Vec::new(),
        }
    }
}

impl From<DevInfo6> for DeviceInfo {
    fn from(i: DevInfo6) -> Self {
        DeviceInfo {
            dev_class: i.dev_class,
            server_id: i.server_id,
            server_host: i.server_host,
            server_version: i.server_version,
            doc_url: i.doc_url,
            dev_type: i.dev_type,
            version_info: i
                .version_info
                .into_iter()
                .map(|v| (v.key, v.value))
                .collect(),
        }
    }
}

/// `DeviceProxy::command_query()`: a command's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    /// Command name.
    pub cmd_name: String,
    /// Tag (unused by Tango, 0).
    pub cmd_tag: i32,
    /// Argument type.
    pub in_type: CmdArgType,
    /// Result type.
    pub out_type: CmdArgType,
    /// Argument description.
    pub in_type_desc: String,
    /// Result description.
    pub out_type_desc: String,
    /// Display level.
    pub disp_level: DispLevel,
}

fn arg_type(t: i32) -> CmdArgType {
    CmdArgType::try_from(t).unwrap_or(CmdArgType::Unknown)
}

impl From<DevCmdInfo2> for CommandInfo {
    fn from(c: DevCmdInfo2) -> Self {
        CommandInfo {
            cmd_name: c.cmd_name,
            cmd_tag: c.cmd_tag,
            in_type: arg_type(c.in_type),
            out_type: arg_type(c.out_type),
            in_type_desc: c.in_type_desc,
            out_type_desc: c.out_type_desc,
            disp_level: c.level,
        }
    }
}

/// `DeviceProxy::attribute_list_query()`: the IDL 2 attribute configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeInfo {
    /// Attribute name.
    pub name: String,
    /// READ, WRITE...
    pub writable: AttrWriteType,
    /// SCALAR, SPECTRUM, IMAGE.
    pub data_format: AttrDataFormat,
    /// Element type.
    pub data_type: CmdArgType,
    /// Maximum elements per row.
    pub max_dim_x: i32,
    /// Maximum rows.
    pub max_dim_y: i32,
    /// Description.
    pub description: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Standard unit.
    pub standard_unit: String,
    /// Display unit.
    pub display_unit: String,
    /// printf-like format.
    pub format: String,
    /// Minimum writable value.
    pub min_value: String,
    /// Maximum writable value.
    pub max_value: String,
    /// Alarm low threshold.
    pub min_alarm: String,
    /// Alarm high threshold.
    pub max_alarm: String,
    /// Associated writable attribute (READ_WITH_WRITE).
    pub writable_attr_name: String,
    /// Display level.
    pub disp_level: DispLevel,
    /// Extensions.
    pub extensions: Vec<String>,
}

impl From<AttributeConfig2> for AttributeInfo {
    fn from(c: AttributeConfig2) -> Self {
        AttributeInfo {
            name: c.name,
            writable: c.writable,
            data_format: c.data_format,
            data_type: arg_type(c.data_type),
            max_dim_x: c.max_dim_x,
            max_dim_y: c.max_dim_y,
            description: c.description,
            label: c.label,
            unit: c.unit,
            standard_unit: c.standard_unit,
            display_unit: c.display_unit,
            format: c.format,
            min_value: c.min_value,
            max_value: c.max_value,
            min_alarm: c.min_alarm,
            max_alarm: c.max_alarm,
            writable_attr_name: c.writable_attr_name,
            disp_level: c.level,
            extensions: c.extensions,
        }
    }
}

/// `DeviceProxy::get_attribute_config()`: the full (IDL 5) attribute configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeInfoEx {
    /// Attribute name.
    pub name: String,
    /// READ, WRITE...
    pub writable: AttrWriteType,
    /// SCALAR, SPECTRUM, IMAGE.
    pub data_format: AttrDataFormat,
    /// Element type.
    pub data_type: CmdArgType,
    /// Memorized attribute.
    pub memorized: bool,
    /// Memorized value written at init.
    pub mem_init: bool,
    /// Maximum elements per row.
    pub max_dim_x: i32,
    /// Maximum rows.
    pub max_dim_y: i32,
    /// Description.
    pub description: String,
    /// Label.
    pub label: String,
    /// Unit.
    pub unit: String,
    /// Standard unit.
    pub standard_unit: String,
    /// Display unit.
    pub display_unit: String,
    /// printf-like format.
    pub format: String,
    /// Minimum writable value.
    pub min_value: String,
    /// Maximum writable value.
    pub max_value: String,
    /// Associated writable attribute (READ_WITH_WRITE).
    pub writable_attr_name: String,
    /// Display level.
    pub disp_level: DispLevel,
    /// Root attribute of a forwarded attribute.
    pub root_attr_name: String,
    /// Labels of a DevEnum attribute.
    pub enum_labels: Vec<String>,
    /// Alarm and warning thresholds.
    pub alarms: AttributeAlarm,
    /// Event configuration.
    pub events: EventProperties,
    /// Extensions.
    pub extensions: Vec<String>,
    /// System extensions.
    pub sys_extensions: Vec<String>,
}

impl From<AttributeConfig5> for AttributeInfoEx {
    fn from(c: AttributeConfig5) -> Self {
        AttributeInfoEx {
            name: c.name,
            writable: c.writable,
            data_format: c.data_format,
            data_type: arg_type(c.data_type),
            memorized: c.memorized,
            mem_init: c.mem_init,
            max_dim_x: c.max_dim_x,
            max_dim_y: c.max_dim_y,
            description: c.description,
            label: c.label,
            unit: c.unit,
            standard_unit: c.standard_unit,
            display_unit: c.display_unit,
            format: c.format,
            min_value: c.min_value,
            max_value: c.max_value,
            writable_attr_name: c.writable_attr_name,
            disp_level: c.level,
            root_attr_name: c.root_attr_name,
            enum_labels: c.enum_labels,
            alarms: c.att_alarm,
            events: c.event_prop,
            extensions: c.extensions,
            sys_extensions: c.sys_extensions,
        }
    }
}

impl From<AttributeConfig3> for AttributeInfoEx {
    fn from(c: AttributeConfig3) -> Self {
        AttributeInfoEx {
            name: c.name,
            writable: c.writable,
            data_format: c.data_format,
            data_type: arg_type(c.data_type),
            memorized: false,
            mem_init: false,
            max_dim_x: c.max_dim_x,
            max_dim_y: c.max_dim_y,
            description: c.description,
            label: c.label,
            unit: c.unit,
            standard_unit: c.standard_unit,
            display_unit: c.display_unit,
            format: c.format,
            min_value: c.min_value,
            max_value: c.max_value,
            writable_attr_name: c.writable_attr_name,
            disp_level: c.level,
            root_attr_name: String::new(),
            enum_labels: Vec::new(),
            alarms: c.att_alarm,
            events: c.event_prop,
            extensions: c.extensions,
            sys_extensions: c.sys_extensions,
        }
    }
}
