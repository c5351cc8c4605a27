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

/// The configuration `set_attribute_config` sends to IDL 5 and 6 servers: every field of
/// the [`AttributeInfoEx`] as it is, so a configuration read with `get_attribute_config`
/// and sent back unchanged leaves the server's configuration unchanged.
///
/// `AttributeInfoEx` models every field of `AttributeConfig_5`; only the type code goes
/// through [`CmdArgType`], and a code this crate does not know was read as
/// [`CmdArgType::Unknown`] (100). Servers never change an attribute's type, name, format,
/// writability or dimensions through `set_attribute_config` (cppTango, PyTango and ours
/// keep them), so such a code is sent as 100 without effect.
impl From<&AttributeInfoEx> for AttributeConfig5 {
    fn from(i: &AttributeInfoEx) -> Self {
        AttributeConfig5 {
            name: i.name.clone(),
            writable: i.writable,
            data_format: i.data_format,
            data_type: i.data_type.code(),
            memorized: i.memorized,
            mem_init: i.mem_init,
            max_dim_x: i.max_dim_x,
            max_dim_y: i.max_dim_y,
            description: i.description.clone(),
            label: i.label.clone(),
            unit: i.unit.clone(),
            standard_unit: i.standard_unit.clone(),
            display_unit: i.display_unit.clone(),
            format: i.format.clone(),
            min_value: i.min_value.clone(),
            max_value: i.max_value.clone(),
            writable_attr_name: i.writable_attr_name.clone(),
            level: i.disp_level,
            root_attr_name: i.root_attr_name.clone(),
            enum_labels: i.enum_labels.clone(),
            att_alarm: i.alarms.clone(),
            event_prop: i.events.clone(),
            extensions: i.extensions.clone(),
            sys_extensions: i.sys_extensions.clone(),
        }
    }
}

/// The configuration `set_attribute_config` sends to IDL 3 and 4 servers. `AttributeConfig_3`
/// has no `memorized`, `mem_init`, `root_attr_name` or `enum_labels`: an IDL 3/4 server
/// never reported them (reading fills them with `false` and empty values), and it keeps
/// its own when a configuration is set. Every other field is sent as it is (the type code
/// as for [`AttributeConfig5`]).
impl From<&AttributeInfoEx> for AttributeConfig3 {
    fn from(i: &AttributeInfoEx) -> Self {
        AttributeConfig3::from(AttributeConfig5::from(i))
    }
}

impl AttributeInfoEx {
    /// Every string of the configuration, for checks before sending (Tango strings are
    /// Latin-1 on the wire).
    pub(crate) fn strings(&self) -> impl Iterator<Item = &str> {
        let a = &self.alarms;
        let e = &self.events;
        [
            &self.name,
            &self.description,
            &self.label,
            &self.unit,
            &self.standard_unit,
            &self.display_unit,
            &self.format,
            &self.min_value,
            &self.max_value,
            &self.writable_attr_name,
            &self.root_attr_name,
            &a.min_alarm,
            &a.max_alarm,
            &a.min_warning,
            &a.max_warning,
            &a.delta_t,
            &a.delta_val,
            &e.ch_event.rel_change,
            &e.ch_event.abs_change,
            &e.per_event.period,
            &e.arch_event.rel_change,
            &e.arch_event.abs_change,
            &e.arch_event.period,
        ]
        .into_iter()
        .chain(&self.enum_labels)
        .chain(&self.extensions)
        .chain(&self.sys_extensions)
        .chain(&a.extensions)
        .chain(&e.ch_event.extensions)
        .chain(&e.per_event.extensions)
        .chain(&e.arch_event.extensions)
        .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with every field set to something distinct.
    fn config_5(data_type: i32) -> AttributeConfig5 {
        let s = |x: &str| x.to_owned();
        AttributeConfig5 {
            name: s("double_scalar"),
            writable: AttrWriteType::ReadWrite,
            data_format: AttrDataFormat::Spectrum,
            data_type,
            memorized: true,
            mem_init: true,
            max_dim_x: 7,
            max_dim_y: 3,
            description: s("desc"),
            label: s("lbl"),
            unit: s("mm"),
            standard_unit: s("0.001"),
            display_unit: s("1"),
            format: s("%6.2f"),
            min_value: s("-10"),
            max_value: s("10"),
            writable_attr_name: s("w"),
            level: DispLevel::Expert,
            root_attr_name: s("a/b/c/root"),
            enum_labels: vec![s("ON"), s("OFF")],
            att_alarm: AttributeAlarm {
                min_alarm: s("-5"),
                max_alarm: s("5"),
                min_warning: s("-4"),
                max_warning: s("4"),
                delta_t: s("100"),
                delta_val: s("0.5"),
                extensions: vec![s("ax")],
            },
            event_prop: EventProperties {
                ch_event: tango_core::idl::ChangeEventProp {
                    rel_change: s("1"),
                    abs_change: s("2"),
                    extensions: vec![s("cx")],
                },
                per_event: tango_core::idl::PeriodicEventProp {
                    period: s("1000"),
                    extensions: vec![s("px")],
                },
                arch_event: tango_core::idl::ArchiveEventProp {
                    rel_change: s("3"),
                    abs_change: s("4"),
                    period: s("2000"),
                    extensions: vec![s("rx")],
                },
            },
            extensions: vec![s("x")],
            sys_extensions: vec![s("sx")],
        }
    }

    #[test]
    fn config_5_roundtrips_through_info() {
        for t in CmdArgType::ALL {
            let c = config_5(t.code());
            let info = AttributeInfoEx::from(c.clone());
            assert_eq!(AttributeConfig5::from(&info), c, "{t}");
        }
    }

    #[test]
    fn unknown_type_code_is_sent_as_unknown() {
        let info = AttributeInfoEx::from(config_5(77));
        assert_eq!(info.data_type, CmdArgType::Unknown);
        assert_eq!(AttributeConfig5::from(&info).data_type, 100);
    }

    #[test]
    fn config_3_roundtrips_through_info() {
        let c5 = config_5(CmdArgType::DevLong.code());
        let c3 = AttributeConfig3 {
            name: c5.name,
            writable: c5.writable,
            data_format: c5.data_format,
            data_type: c5.data_type,
            max_dim_x: c5.max_dim_x,
            max_dim_y: c5.max_dim_y,
            description: c5.description,
            label: c5.label,
            unit: c5.unit,
            standard_unit: c5.standard_unit,
            display_unit: c5.display_unit,
            format: c5.format,
            min_value: c5.min_value,
            max_value: c5.max_value,
            writable_attr_name: c5.writable_attr_name,
            level: c5.level,
            att_alarm: c5.att_alarm,
            event_prop: c5.event_prop,
            extensions: c5.extensions,
            sys_extensions: c5.sys_extensions,
        };
        let info = AttributeInfoEx::from(c3.clone());
        assert_eq!(AttributeConfig3::from(&info), c3);
    }

    #[test]
    fn strings_cover_every_text_field() {
        let info = AttributeInfoEx::from(config_5(5));
        let all: Vec<&str> = info.strings().collect();
        // 23 single strings and 7 lists: 2 enum labels, one string in each other list.
        assert_eq!(all.len(), 23 + 2 + 6);
        for s in [
            "double_scalar",
            "a/b/c/root",
            "OFF",
            "ax",
            "cx",
            "px",
            "rx",
            "sx",
            "0.5",
        ] {
            assert!(all.contains(&s), "{s} missing");
        }
    }
}
