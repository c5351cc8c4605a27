//! The one list of cases every client runs against every server, written once as async
//! functions over a [`Cx`] (see [`super::client`] for how each client drives them).
//!
//! Topics: [`basics`] (connection, state, info...), [`queries`] (attribute and command
//! lists, configurations), [`read`], [`write`], [`commands`], [`errors`], [`handles`]
//! (`wait=false`), [`private`] (timeouts, stopped and restarted servers: these run on a
//! private server of the cell's column).
//!
//! Case names are `topic:what` (`write:image:double`); the not-applicable list
//! ([`super::na`]) refers to them. Cases that change the device restore it.

pub mod basics;
pub mod commands;
pub mod errors;
pub mod handles;
pub mod private;
pub mod queries;
pub mod read;
pub mod write;

use std::fmt::Display;

use tango::Error;

use super::client::{CaseFuture, CaseResult, Cx};

/// Where a case runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// On the column's shared server, under its lock; the case leaves the device as it
    /// found it.
    Shared,
    /// On a private server of the column, which the case may stop, restart or freeze
    /// (it is started and resumed again before each private case).
    Private,
}

/// One named case.
#[derive(Clone, Copy)]
pub struct Case {
    /// `topic:what`.
    pub name: &'static str,
    /// Shared or private server.
    pub needs: Needs,
    /// The case itself.
    pub run: for<'a> fn(&'a Cx) -> CaseFuture<'a>,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish()
    }
}

/// `case!(Shared, "state", basics::state)`.
macro_rules! case {
    ($needs:ident, $name:literal, $f:path) => {
        Case {
            name: $name,
            needs: Needs::$needs,
            run: |cx| Box::pin($f(cx)),
        }
    };
}

/// Every case, in the order a cell runs them (shared ones first, then private ones).
pub static CASES: &[Case] = &[
    // connection and device basics
    case!(Shared, "connect", basics::connect),
    case!(Shared, "client_transport", basics::client_transport),
    case!(Shared, "state", basics::state),
    case!(Shared, "status", basics::status),
    case!(Shared, "ping", basics::ping),
    case!(Shared, "info", basics::info),
    case!(Shared, "info:version_info", basics::info_version_info),
    case!(Shared, "idl_version", basics::idl_version),
    case!(Shared, "adm_name", basics::adm_name),
    case!(Shared, "description", basics::description),
    case!(Shared, "black_box", basics::black_box),
    case!(Shared, "settings:timeout_and_source", basics::settings),
    // queries and configuration
    case!(Shared, "query:attribute_list", queries::attribute_list),
    case!(
        Shared,
        "query:attributes_match_interface",
        queries::attributes_match_interface
    ),
    case!(Shared, "query:read_with_write", queries::read_with_write),
    case!(
        Shared,
        "query:commands_match_interface",
        queries::commands_match_interface
    ),
    case!(Shared, "query:command_query", queries::command_query),
    case!(Shared, "query:get_command_list", queries::get_command_list),
    case!(Shared, "config:get", queries::config_get),
    case!(
        Shared,
        "config:set_unchanged",
        queries::config_set_unchanged
    ),
    case!(Shared, "config:set", queries::config_set),
    case!(Shared, "polling:cache_dev_read", queries::polling_cache_dev),
    case!(Shared, "polling:cache_read", queries::polling_cache),
    // reads
    case!(Shared, "read:scalar", read::scalars),
    case!(Shared, "read:spectrum:numeric", read::spectra_numeric),
    case!(Shared, "read:spectrum:boolean_string", read::spectra_other),
    case!(Shared, "read:image:numeric", read::images_numeric),
    case!(Shared, "read:image:boolean_string", read::images_other),
    case!(Shared, "read:wave", read::wave),
    case!(Shared, "read:typed", read::typed),
    case!(Shared, "read_attributes:all", read::all_at_once),
    case!(Shared, "read:newer_attributes", read::newer_attributes),
    // writes, read back
    case!(Shared, "write:scalar:integer", write::scalar_integer),
    case!(Shared, "write:scalar:float", write::scalar_float),
    case!(Shared, "write:scalar:boolean_string", write::scalar_other),
    case!(Shared, "write:spectrum:integer", write::spectrum_integer),
    case!(Shared, "write:spectrum:float", write::spectrum_float),
    case!(
        Shared,
        "write:spectrum:boolean_string",
        write::spectrum_other
    ),
    case!(Shared, "write:spectrum:longest", write::spectrum_longest),
    case!(Shared, "write:image:boolean", write::image_boolean),
    case!(Shared, "write:image:uchar", write::image_uchar),
    case!(Shared, "write:image:short", write::image_short),
    case!(Shared, "write:image:ushort", write::image_ushort),
    case!(Shared, "write:image:long", write::image_long),
    case!(Shared, "write:image:float", write::image_float),
    case!(Shared, "write:image:double", write::image_double),
    case!(Shared, "write:image:string", write::image_string),
    case!(Shared, "write:image:from_rows", write::image_from_rows),
    case!(
        Shared,
        "write:read_with_write_setpoint",
        write::rww_setpoint
    ),
    case!(Shared, "write:long_string", write::long_string),
    case!(Shared, "write:enum", write::enum_scalar),
    case!(Shared, "write:type_conversion", write::type_conversion),
    case!(Shared, "write_read_attribute", write::write_read),
    case!(Shared, "write_attributes:many", write::many),
    case!(Shared, "attribute_proxy", write::attribute_proxy),
    // commands
    case!(Shared, "cmd:void_state_status", commands::void_state_status),
    case!(Shared, "cmd:integer", commands::integers),
    case!(Shared, "cmd:float", commands::floats),
    case!(Shared, "cmd:boolean_string", commands::boolean_string),
    case!(Shared, "cmd:integer_array", commands::integer_arrays),
    case!(Shared, "cmd:float_array", commands::float_arrays),
    case!(Shared, "cmd:string_array", commands::string_arrays),
    case!(
        Shared,
        "cmd:argument_conversion",
        commands::argument_conversion
    ),
    // errors
    case!(Shared, "err:unknown_attribute", errors::unknown_attribute),
    case!(Shared, "err:unknown_command", errors::unknown_command),
    case!(Shared, "err:write_read_only", errors::write_read_only),
    case!(
        Shared,
        "err:attribute_read_failures",
        errors::attribute_read_failures
    ),
    case!(Shared, "err:partial_read", errors::partial_read),
    case!(Shared, "err:nan_write_refused", errors::nan_refused),
    case!(Shared, "err:unknown_device", errors::unknown_device),
    case!(Shared, "err:bad_name", errors::bad_name),
    // wait=false handles
    case!(Shared, "submit:result", handles::result),
    case!(Shared, "submit:many_in_flight", handles::many_in_flight),
    case!(Shared, "submit:done_and_cancel", handles::done_and_cancel),
    // private server: timeouts, restarts
    case!(Private, "timeout:call", private::call_timeout),
    case!(Private, "timeout:proxy", private::proxy_timeout),
    case!(
        Private,
        "submit:frozen_server",
        private::handles_on_frozen_server
    ),
    case!(Private, "restart:stopped_server", private::stopped_server),
    case!(Private, "restart:same_port", private::restarted_server),
    case!(
        Private,
        "restart:init_and_switch_states",
        private::state_commands
    ),
    case!(
        Private,
        "connect:server_down",
        private::proxy_made_while_down
    ),
];

/// The case called `name`.
pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

/// Turns a client error into a case failure saying what was being done.
pub trait OrFail<T> {
    /// `Err(e)` becomes `Err("{what}: {e}")`.
    fn or_fail(self, what: impl Display) -> Result<T, String>;
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: impl Display) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}
pub(crate) use ensure;

/// The error of a call that had to fail.
pub fn expect_err<T: std::fmt::Debug>(r: tango::Result<T>, what: &str) -> Result<Error, String> {
    match r {
        Ok(v) => Err(format!("{what}: expected an error, got {v:?}")),
        Err(e) => Ok(e),
    }
}

/// A call that had to fail with a Tango error stack holding `reason`.
pub fn expect_reason<T: std::fmt::Debug>(
    r: tango::Result<T>,
    reason: &str,
    what: &str,
) -> CaseResult {
    let e = expect_err(r, what)?;
    ensure!(e.has_reason(reason), "{what}: expected {reason}, got {e}");
    Ok(())
}

/// The device is still healthy: its state is RUNNING.
pub async fn still_running(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let st = cx.call(dev.state()).await.or_fail("state afterwards")?;
    ensure!(st == tango::DevState::Running, "state afterwards is {st}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_private_cases_come_last() {
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate case names");
        let first_private = CASES
            .iter()
            .position(|c| c.needs == Needs::Private)
            .unwrap();
        assert!(CASES[first_private..]
            .iter()
            .all(|c| c.needs == Needs::Private));
        assert!((40..=90).contains(&n), "{n} cases");
        assert!(find("write:image:double").is_some());
        assert!(find("nope").is_none());
    }
}
