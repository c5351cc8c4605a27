//! The one error type of the client API.
//!
//! PyTango turns every failure into a `DevFailed`; here each kind of failure has its own
//! variant, so code can react to "the server is not running" differently from "the
//! device refused the command". [`Error::reason`] still gives the Tango reason a cppTango
//! client would show (`API_DeviceTimedOut`, `API_CantConnectToDevice`, ...), and
//! [`Error::to_dev_failed`] the whole stack in Tango form.

use std::fmt;
use std::time::Duration;

use tango_core::cdr::DecodeError;
use tango_core::client::CallError;
use tango_core::giop::SystemException;
use tango_core::idl::{DevError, DevFailed, ErrSeverity, MultiDevFailed};
use tango_core::name::NameError;

/// Result of a Tango call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a Tango call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The device (or the server on its behalf) raised `DevFailed`: the full Tango error
    /// stack, most specific error last as Tango orders it.
    #[error("{0}")]
    DevFailed(DevFailed),
    /// A multi-attribute write failed for some attributes.
    #[error("{0}")]
    MultiDevFailed(MultiDevFailed),
    /// No reply within the timeout. The request was abandoned; its late reply will be
    /// dropped and the connection stays usable.
    #[error("{operation} on {device} timed out after {} ms (raise the timeout with set_timeout_millis if the device is slow)", .after.as_millis())]
    Timeout {
        /// The device.
        device: String,
        /// The operation.
        operation: String,
        /// How long we waited.
        after: Duration,
    },
    /// Nothing listens at the device's address: the device server is not running.
    #[error("cannot connect to {device} at {endpoint}: the device server is not running (connection refused)")]
    ServerNotRunning {
        /// The device.
        device: String,
        /// host:port.
        endpoint: String,
    },
    /// The TCP connection could not be made for another reason (unreachable, unknown host).
    #[error("cannot connect to {device} at {endpoint}: {detail}")]
    CannotConnect {
        /// The device.
        device: String,
        /// host:port.
        endpoint: String,
        /// The system's explanation.
        detail: String,
    },
    /// The connection broke while the call was in flight (server crashed or restarted).
    /// The next call reconnects.
    #[error("connection to {endpoint} lost during {operation}: {detail}")]
    ConnectionLost {
        /// host:port.
        endpoint: String,
        /// The operation.
        operation: String,
        /// What happened.
        detail: String,
    },
    /// The server runs, but has no device of that name (CORBA `OBJECT_NOT_EXIST`).
    #[error("device {device} is not defined in the server at {endpoint} (OBJECT_NOT_EXIST)")]
    DeviceNotExported {
        /// The device.
        device: String,
        /// host:port.
        endpoint: String,
    },
    /// Bytes that do not decode: a protocol error on either side.
    #[error("marshalling error in {operation}: {detail}")]
    Marshal {
        /// The operation.
        operation: String,
        /// What could not be decoded.
        detail: String,
    },
    /// Another CORBA system exception (e.g. `BAD_OPERATION` from a server that lacks an
    /// operation of the IDL version we chose).
    #[error("{operation}: {exception}")]
    Corba {
        /// The operation.
        operation: String,
        /// The exception.
        exception: SystemException,
    },
    /// The name is not a Tango device or attribute name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A feature that is not implemented yet (e.g. the Tango database).
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// A value does not have the type or shape the caller asked for, or cannot be
    /// converted to the type the device declares.
    #[error("type mismatch: {0}")]
    Type(String),
}

impl Error {
    /// The Tango reason a cppTango client reports for this error.
    pub fn reason(&self) -> &str {
        match self {
            Error::DevFailed(df) => df.errors.first().map(|e| e.reason.as_str()).unwrap_or(""),
            Error::MultiDevFailed(m) => m
                .errors
                .first()
                .and_then(|n| n.err_list.first())
                .map_or("API_AttributeFailed", |e| e.reason.as_str()),
            Error::Timeout { .. } => "API_DeviceTimedOut",
            Error::ServerNotRunning { .. } | Error::CannotConnect { .. } => {
                "API_CantConnectToDevice"
            }
            Error::ConnectionLost { .. } => "API_CommunicationFailed",
            Error::DeviceNotExported { .. } => "API_DeviceNotExported",
            Error::Marshal { .. } | Error::Corba { .. } => "API_CorbaException",
            Error::Name(_) => "API_WrongDeviceNameSyntax",
            Error::NotSupported(_) => "API_NotSupported",
            Error::Type(_) => "API_IncompatibleArgumentType",
        }
    }

    /// The error as a Tango error stack.
    pub fn to_dev_failed(&self) -> DevFailed {
        match self {
            Error::DevFailed(df) => df.clone(),
            other => DevFailed {
                errors: vec![DevError {
                    reason: other.reason().to_owned(),
                    severity: ErrSeverity::Err,
                    desc: other.to_string(),
                    origin: "tango (Rust client)".to_owned(),
                }],
            },
        }
    }

    /// True for a `DevFailed` whose first (or any) error has this reason.
    pub fn has_reason(&self, reason: &str) -> bool {
        match self {
            Error::DevFailed(df) => df.errors.iter().any(|e| e.reason == reason),
            Error::MultiDevFailed(m) => m
                .errors
                .iter()
                .flat_map(|n| &n.err_list)
                .any(|e| e.reason == reason),
            other => other.reason() == reason,
        }
    }

    pub(crate) fn type_mismatch(msg: impl fmt::Display) -> Self {
        Error::Type(msg.to_string())
    }

    /// The client error for a reply to `operation` on `device` (served at `endpoint`) that
    /// carries an exception: the same mapping for every transport.
    pub fn from_call(err: CallError, device: &str, endpoint: &str, operation: &str) -> Self {
        match err {
            CallError::DevFailed(df) => Error::DevFailed(df),
            CallError::MultiDevFailed(m) => Error::MultiDevFailed(m),
            CallError::System(ex) if ex.name() == "OBJECT_NOT_EXIST" => Error::DeviceNotExported {
                device: device.to_owned(),
                endpoint: endpoint.to_owned(),
            },
            CallError::System(ex) => Error::Corba {
                operation: operation.to_owned(),
                exception: ex,
            },
            CallError::Decode(e) => Error::marshal(operation, e),
            CallError::UnknownUserException(id) => Error::Marshal {
                operation: operation.to_owned(),
                detail: format!("unknown user exception {id}"),
            },
            CallError::LocationForward(ior) => Error::NotSupported(format!(
                "{operation} on {device}: LOCATION_FORWARD to {ior}"
            )),
            CallError::NeedsAddressingMode => Error::NotSupported(format!(
                "{operation} on {device}: server wants another GIOP addressing mode"
            )),
        }
    }

    pub(crate) fn marshal(operation: &str, e: DecodeError) -> Self {
        Error::Marshal {
            operation: operation.to_owned(),
            detail: e.to_string(),
        }
    }
}

impl From<tango_core::value::ValueError> for Error {
    fn from(e: tango_core::value::ValueError) -> Self {
        Error::Type(e.0)
    }
}

impl From<DevFailed> for Error {
    fn from(df: DevFailed) -> Self {
        Error::DevFailed(df)
    }
}
