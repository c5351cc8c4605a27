//! The interface of Debian's C++ TangoTest 9.3.4, as recorded in
//! `conformance/tests/data/tangotest-9.3.4-interface.txt` (read by a PyTango client from the
//! real server): every attribute's type, format, writability and maximum dimensions, every
//! command's argument types, and the admin device's commands.
//!
//! The conformance cases check servers against it; the PyTango client suite
//! (`peers/pytango_client_suite.py`) reads the same file.

use std::sync::OnceLock;

use tango::{AttrDataFormat, AttrWriteType, CmdArgType};

/// The recorded interface file, compiled in.
pub const INTERFACE_TEXT: &str = include_str!("../tests/data/tangotest-9.3.4-interface.txt");

/// One attribute of the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAttr {
    /// The attribute name (`double_scalar`).
    pub name: String,
    /// Its data type.
    pub data_type: CmdArgType,
    /// Scalar, spectrum or image.
    pub data_format: AttrDataFormat,
    /// Read, write, read-write or read-with-write.
    pub writable: AttrWriteType,
    /// Maximum x dimension.
    pub max_dim_x: i32,
    /// Maximum y dimension.
    pub max_dim_y: i32,
}

/// One command of the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedCmd {
    /// The command name.
    pub name: String,
    /// The argument type.
    pub in_type: CmdArgType,
    /// The result type.
    pub out_type: CmdArgType,
}

/// The whole recorded interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Attributes, in the file's order.
    pub attributes: Vec<ExpectedAttr>,
    /// Commands, in the file's order.
    pub commands: Vec<ExpectedCmd>,
    /// The admin device's command names.
    pub admin_commands: Vec<String>,
}

impl Interface {
    /// The interface of [`INTERFACE_TEXT`], parsed once.
    pub fn tangotest() -> &'static Interface {
        static PARSED: OnceLock<Interface> = OnceLock::new();
        PARSED.get_or_init(|| {
            Interface::parse(INTERFACE_TEXT)
                .unwrap_or_else(|e| panic!("the compiled-in interface file is broken: {e}"))
        })
    }

    /// Parses the file's format: attribute lines (`name type FORMAT WRITABLE max_x
    /// max_y`), `---`, command lines (`name DevIn DevOut`), then free lines of which the
    /// one starting with `[` lists the admin commands.
    pub fn parse(text: &str) -> Result<Interface, String> {
        let mut attributes = Vec::new();
        let mut commands = Vec::new();
        let mut admin_commands = Vec::new();
        let mut in_commands = false;
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.trim() == "---" {
                in_commands = true;
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if !in_commands {
                if f.len() != 6 {
                    return Err(format!("line {line_no}: 6 fields expected: {line:?}"));
                }
                let number: i32 = f[1]
                    .parse()
                    .map_err(|e| format!("line {line_no}: type {:?}: {e}", f[1]))?;
                let dim = |s: &str| {
                    s.parse::<i32>()
                        .map_err(|e| format!("line {line_no}: dimension {s:?}: {e}"))
                };
                attributes.push(ExpectedAttr {
                    name: f[0].to_owned(),
                    data_type: CmdArgType::try_from(number)
                        .map_err(|_| format!("line {line_no}: unknown type {number}"))?,
                    data_format: AttrDataFormat::from_name(f[2])
                        .ok_or_else(|| format!("line {line_no}: unknown format {:?}", f[2]))?,
                    writable: AttrWriteType::from_name(f[3])
                        .ok_or_else(|| format!("line {line_no}: unknown writable {:?}", f[3]))?,
                    max_dim_x: dim(f[4])?,
                    max_dim_y: dim(f[5])?,
                });
            } else if f.len() == 3 && f[1].starts_with("Dev") && f[2].starts_with("Dev") {
                let ty = |s: &str| {
                    CmdArgType::from_name(s)
                        .ok_or_else(|| format!("line {line_no}: unknown command type {s:?}"))
                };
                commands.push(ExpectedCmd {
                    name: f[0].to_owned(),
                    in_type: ty(f[1])?,
                    out_type: ty(f[2])?,
                });
            } else if let Some(list) = line.trim().strip_prefix('[') {
                admin_commands = list
                    .trim_end_matches(']')
                    .split(',')
                    .map(|s| s.trim().trim_matches('\'').to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
        }
        if attributes.is_empty() || commands.is_empty() {
            return Err("no attributes or no commands".to_owned());
        }
        Ok(Interface {
            attributes,
            commands,
            admin_commands,
        })
    }

    /// The attribute called `name`, if the interface has it.
    pub fn attribute(&self, name: &str) -> Option<&ExpectedAttr> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_interface_parses() {
        let i = Interface::tangotest();
        assert_eq!(i.attributes.len(), 62);
        assert_eq!(i.commands.len(), 30);
        assert_eq!(i.admin_commands.len(), 32);
        let d = i.attribute("double_image").unwrap();
        assert_eq!(d.data_type, CmdArgType::DevDouble);
        assert_eq!(d.data_format, AttrDataFormat::Image);
        assert_eq!(d.writable, AttrWriteType::ReadWrite);
        assert_eq!((d.max_dim_x, d.max_dim_y), (251, 251));
        let rww = i.attribute("long_scalar_rww").unwrap();
        assert_eq!(rww.writable, AttrWriteType::ReadWithWrite);
        let c = i.commands.iter().find(|c| c.name == "State").unwrap();
        assert_eq!(
            (c.in_type, c.out_type),
            (CmdArgType::DevVoid, CmdArgType::DevState)
        );
        assert!(i.admin_commands.iter().any(|c| c == "AddObjPolling"));
    }

    #[test]
    fn broken_lines_are_errors() {
        assert!(Interface::parse("a 5 SCALAR READ 1\n---\nX DevVoid DevVoid\n").is_err());
        assert!(Interface::parse("a 5 NOPE READ 1 0\n---\nX DevVoid DevVoid\n").is_err());
        assert!(Interface::parse("a 999 SCALAR READ 1 0\n---\nX DevVoid DevVoid\n").is_err());
        assert!(Interface::parse("---\n").is_err());
    }
}
