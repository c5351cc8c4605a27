//! [`AttributeProxy`]: a handle on one attribute of one device.

use std::time::Duration;

use tango_core::idl::DevState;
use tango_core::name::TangoName;

use crate::attribute::DeviceAttribute;
use crate::error::{Error, Result};
use crate::info::AttributeInfoEx;
use crate::proxy::DeviceProxy;
use tango_core::value::WriteValue;

/// A proxy to one attribute, named `tango://host:port/domain/family/member/attribute#dbase=no`.
///
/// It holds a [`DeviceProxy`] to the attribute's device (shared connection, same
/// timeout rules).
#[derive(Debug, Clone)]
pub struct AttributeProxy {
    device: DeviceProxy,
    attribute: String,
}

impl AttributeProxy {
    /// Connects to the attribute's device.
    pub fn new(name: &str) -> Result<Self> {
        let parsed = TangoName::parse_attribute(name)?;
        let attribute = parsed
            .attribute
            .clone()
            .ok_or_else(|| Error::type_mismatch(format!("{name} names no attribute")))?;
        let device_name = TangoName {
            attribute: None,
            ..parsed
        };
        Ok(AttributeProxy {
            device: DeviceProxy::new(&device_name.full_name())?,
            attribute,
        })
    }

    /// The attribute name.
    pub fn name(&self) -> &str {
        &self.attribute
    }

    /// The device.
    pub fn get_device_proxy(&self) -> &DeviceProxy {
        &self.device
    }

    /// Reads the attribute.
    pub fn read(&self) -> Result<DeviceAttribute> {
        self.device.read_attribute(&self.attribute)
    }

    /// Writes the attribute.
    pub fn write(&self, value: impl Into<WriteValue>) -> Result<()> {
        self.device.write_attribute(&self.attribute, value)
    }

    /// Writes then reads the attribute in one request.
    pub fn write_read(&self, value: impl Into<WriteValue>) -> Result<DeviceAttribute> {
        self.device.write_read_attribute(&self.attribute, value)
    }

    /// The attribute's configuration.
    pub fn get_config(&self) -> Result<AttributeInfoEx> {
        self.device.get_attribute_config(&self.attribute)
    }

    /// Changes the configuration of the attribute `info.name` names (as cppTango's
    /// `AttributeProxy::set_config`, normally this one's, read with
    /// [`AttributeProxy::get_config`]); see [`DeviceProxy::set_attribute_config`].
    pub fn set_config(&self, info: &AttributeInfoEx) -> Result<()> {
        self.device.set_attribute_config(info)
    }

    /// Pings the device.
    pub fn ping(&self) -> Result<Duration> {
        self.device.ping()
    }

    /// The device's state.
    pub fn state(&self) -> Result<DevState> {
        self.device.state()
    }

    /// The device's status.
    pub fn status(&self) -> Result<String> {
        self.device.status()
    }
}
