//! Attribute configurations (`get_attribute_config*`) and their parts, field order exactly
//! as in the IDL. Unset values are the literal string `"Not specified"` on the wire, not
//! empty strings (wire-notes §6.7); we keep whatever the server sent.

use super::types::{AttrDataFormat, AttrWriteType, DispLevel};

crate::cdr_struct! {
    /// `AttributeConfig` (IDL 1).
    pub struct AttributeConfig {
        /// Attribute name.
        pub name: String,
        /// Readable / writable.
        pub writable: AttrWriteType,
        /// Shape.
        pub data_format: AttrDataFormat,
        /// Tango type code (see [`crate::idl::CmdArgType`]).
        pub data_type: i32,
        /// Maximum columns.
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
        /// Minimum value.
        pub min_value: String,
        /// Maximum value.
        pub max_value: String,
        /// Minimum alarm.
        pub min_alarm: String,
        /// Maximum alarm.
        pub max_alarm: String,
        /// Name of the associated writable attribute.
        pub writable_attr_name: String,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// `AttributeConfig_2` (reply of `get_attribute_config_2`): IDL 1 plus `level`.
    pub struct AttributeConfig2 {
        /// Attribute name.
        pub name: String,
        /// Readable / writable.
        pub writable: AttrWriteType,
        /// Shape.
        pub data_format: AttrDataFormat,
        /// Tango type code.
        pub data_type: i32,
        /// Maximum columns.
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
        /// Minimum value.
        pub min_value: String,
        /// Maximum value.
        pub max_value: String,
        /// Minimum alarm.
        pub min_alarm: String,
        /// Maximum alarm.
        pub max_alarm: String,
        /// Name of the associated writable attribute.
        pub writable_attr_name: String,
        /// Display level.
        pub level: DispLevel,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// Alarm limits of an attribute.
    pub struct AttributeAlarm {
        /// Minimum alarm.
        pub min_alarm: String,
        /// Maximum alarm.
        pub max_alarm: String,
        /// Minimum warning.
        pub min_warning: String,
        /// Maximum warning.
        pub max_warning: String,
        /// Delta time (RDS alarm).
        pub delta_t: String,
        /// Delta value (RDS alarm).
        pub delta_val: String,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// Change event settings.
    pub struct ChangeEventProp {
        /// Relative change.
        pub rel_change: String,
        /// Absolute change.
        pub abs_change: String,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// Periodic event settings.
    pub struct PeriodicEventProp {
        /// Period in milliseconds, as text.
        pub period: String,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// Archive event settings.
    pub struct ArchiveEventProp {
        /// Relative change.
        pub rel_change: String,
        /// Absolute change.
        pub abs_change: String,
        /// Period in milliseconds, as text.
        pub period: String,
        /// Extensions.
        pub extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// Event settings of an attribute.
    pub struct EventProperties {
        /// Change events.
        pub ch_event: ChangeEventProp,
        /// Periodic events.
        pub per_event: PeriodicEventProp,
        /// Archive events.
        pub arch_event: ArchiveEventProp,
    }
}

crate::cdr_struct! {
    /// `AttributeConfig_3`.
    pub struct AttributeConfig3 {
        /// Attribute name.
        pub name: String,
        /// Readable / writable.
        pub writable: AttrWriteType,
        /// Shape.
        pub data_format: AttrDataFormat,
        /// Tango type code.
        pub data_type: i32,
        /// Maximum columns.
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
        /// Minimum value.
        pub min_value: String,
        /// Maximum value.
        pub max_value: String,
        /// Name of the associated writable attribute.
        pub writable_attr_name: String,
        /// Display level.
        pub level: DispLevel,
        /// Alarm limits.
        pub att_alarm: AttributeAlarm,
        /// Event settings.
        pub event_prop: EventProperties,
        /// Extensions.
        pub extensions: Vec<String>,
        /// System extensions.
        pub sys_extensions: Vec<String>,
    }
}

crate::cdr_struct! {
    /// `AttributeConfig_5` (reply of `get_attribute_config_5`, also fetched before every
    /// write). `memorized`/`mem_init` are two single octets followed by 2 pad bytes.
    pub struct AttributeConfig5 {
        /// Attribute name.
        pub name: String,
        /// Readable / writable.
        pub writable: AttrWriteType,
        /// Shape.
        pub data_format: AttrDataFormat,
        /// Tango type code.
        pub data_type: i32,
        /// Whether the written value is memorized.
        pub memorized: bool,
        /// Whether the memorized value is written at start-up.
        pub mem_init: bool,
        /// Maximum columns.
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
        /// Minimum value.
        pub min_value: String,
        /// Maximum value.
        pub max_value: String,
        /// Name of the associated writable attribute.
        pub writable_attr_name: String,
        /// Display level.
        pub level: DispLevel,
        /// Root attribute name (forwarded attributes).
        pub root_attr_name: String,
        /// Labels of a `DevEnum` attribute.
        pub enum_labels: Vec<String>,
        /// Alarm limits.
        pub att_alarm: AttributeAlarm,
        /// Event settings.
        pub event_prop: EventProperties,
        /// Extensions.
        pub extensions: Vec<String>,
        /// System extensions.
        pub sys_extensions: Vec<String>,
    }
}

/// The IDL 3 form of an IDL 5 configuration, as IDL 3/4 operations carry it: the same
/// fields without `memorized`, `mem_init`, `root_attr_name` and `enum_labels`, which
/// `AttributeConfig_3` does not have.
impl From<AttributeConfig5> for AttributeConfig3 {
    fn from(c: AttributeConfig5) -> Self {
        AttributeConfig3 {
            name: c.name,
            writable: c.writable,
            data_format: c.data_format,
            data_type: c.data_type,
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
            level: c.level,
            att_alarm: c.att_alarm,
            event_prop: c.event_prop,
            extensions: c.extensions,
            sys_extensions: c.sys_extensions,
        }
    }
}
