//! The device server, without I/O: GIOP request messages in, replies out.
//!
//! A [`Dispatcher`] holds the devices of one server (the admin device
//! `dserver/<exec>/<instance>` first) and answers every message of every connection:
//!
//! * what needs no device code (`_is_a`, `ping`, `info`, `command_query`,
//!   `get_attribute_config`, `black_box`, locate requests, CORBA system exceptions for
//!   unknown keys and operations...) is answered at once: [`Step::Reply`];
//! * what needs device code (commands, reads, writes, `state`, `status`) becomes a
//!   [`Job`]: the adapter runs [`Job::calls`] on the device (in Synchronous mode under its
//!   monitor lock), then hands the [`crate::device::Outcome`]s to [`Dispatcher::finish`],
//!   which builds the reply.
//!
//! Time comes in as arguments (`now`): the dispatcher has no clock, no socket, no thread.
//! Replies are little-endian, in the GIOP version of the request, as omniORB answers
//! (wire-notes §3, §7).

pub mod adapter;
pub mod admin;
mod args;
pub mod call_chain;
mod dispatch;
pub mod polling;
mod values;

pub use dispatch::{Dispatcher, Job};

/// Identifies one device of a server (an index; the admin device is `DeviceId(0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub usize);

/// What a server says about itself (`info`, `adm_name`, `info_6`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Executable name (`TangoTest`).
    pub exec_name: String,
    /// Instance name (`test`).
    pub instance: String,
    /// Host name shown by `info` (`server_host`).
    pub host_name: String,
    /// Process id (admin commands, black box).
    pub pid: u32,
    /// The IDL version served (`info.server_version`): 6 for `Device_6`.
    pub idl_version: u32,
    /// `(key, value)` pairs of `info_6().version_info`.
    pub version_info: Vec<(String, String)>,
}

impl ServerConfig {
    /// A configuration for `exec_name/instance` with IDL 6, host `localhost`, pid 0 and
    /// the version pairs of this crate.
    pub fn new(exec_name: &str, instance: &str) -> Self {
        ServerConfig {
            exec_name: exec_name.to_owned(),
            instance: instance.to_owned(),
            host_name: "localhost".to_owned(),
            pid: 0,
            idl_version: 6,
            version_info: vec![
                ("tango-rs".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                ("idl".to_owned(), "6.0.4".to_owned()),
            ],
        }
    }

    /// `dserver/<exec>/<instance>`, case as given.
    pub fn admin_name(&self) -> String {
        format!("dserver/{}/{}", self.exec_name, self.instance)
    }
}

/// What the adapter does next with one incoming message.
#[derive(Debug)]
pub enum Step {
    /// Write these bytes (a complete GIOP message).
    Reply(Vec<u8>),
    /// Nothing to send (a oneway request, or a message that needs no answer).
    NoReply,
    /// Run `job.calls` on `job.device` in order (Synchronous mode: under that device's
    /// monitor lock), then call [`Dispatcher::finish`] with the outcomes.
    Run(Job),
    /// Close the connection (bad magic, unsupported version, `CancelRequest` on GIOP 1.0,
    /// the client's `CloseConnection`...), as omniORB does (wire-notes §7).
    Close,
}

/// What a device server serves (shared by every server green mode): cppTango's command line (`<exec> <instance> -nodb -dlist a/b/c
/// -ORBendPoint giop:tcp:<host>:<port> [-vN]`) as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// The instance name (`test` in `TangoTest test`).
    pub instance: String,
    /// Devices to create, optionally prefixed `Class::`.
    pub devices: Vec<String>,
    /// Host to listen on (default all interfaces).
    pub host: String,
    /// Port to listen on (0: a free one).
    pub port: u16,
    /// 1 and up logs connections to stderr, 4 and up every request.
    pub verbosity: u8,
}

impl ServerOptions {
    /// Instance `instance` serving `devices`, on all interfaces, on a free port.
    pub fn new(instance: &str, devices: &[&str]) -> Self {
        ServerOptions {
            instance: instance.to_owned(),
            devices: devices.iter().map(|d| (*d).to_owned()).collect(),
            host: "0.0.0.0".to_owned(),
            port: 0,
            verbosity: 0,
        }
    }

    /// The same options on `host:port`.
    pub fn endpoint(mut self, host: &str, port: u16) -> Self {
        self.host = host.to_owned();
        self.port = port;
        self
    }
}
