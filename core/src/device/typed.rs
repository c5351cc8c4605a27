//! What the typed builders of Asyncio classes ([`super::AsyncClassBuilder`]) and
//! Coroutine classes ([`super::CoClassBuilder`]) share: the configuration methods of
//! their attributes and commands (those of [`super::Attr`] and [`super::Cmd`]), the class
//! description (the one the synchronous builder makes from the same attributes and
//! commands), the handlers at the positions of that description, and how a panic in
//! device code becomes an error. Only how device code is called (a future, or a plain
//! call on a coroutine) differs between the two.

use std::any::Any;

use crate::idl::{DevFailed, DevState};

use super::{Attr, Call, ClassBuilder, ClassInfo, Cmd, DeviceCtx, Outcome};

/// Methods that configure `self.inner` with its method of the same name.
macro_rules! delegate {
    ($( $(#[$m:meta])* $name:ident ( $($arg:ident : $t:ty),* ) ;)*) => {$(
        $(#[$m])*
        pub fn $name(mut self, $($arg: $t),*) -> Self {
            self.inner = self.inner.$name($($arg),*);
            self
        }
    )*};
}
pub(super) use delegate;

/// The configuration methods of an attribute, for a type whose `inner` is an `Attr<()>`.
macro_rules! attr_config_methods {
    () => {
        $crate::device::typed::delegate! {
            /// Clients may read and write it.
            read_write();
            /// Clients may only write it.
            write_only();
            /// Read-only, with its set point taken from the writable attribute `w_attr`.
            read_with_write(w_attr: &str);
            /// Maximum elements per row.
            max_dim_x(n: i32);
            /// Maximum rows.
            max_dim_y(n: i32);
            /// Label.
            label(s: &str);
            /// Unit.
            unit(s: &str);
            /// Description.
            description(s: &str);
            /// Display format.
            format(s: &str);
            /// Smallest value clients may write.
            min_value(v: f64);
            /// Largest value clients may write.
            max_value(v: f64);
            /// Below this, the read quality is `ATTR_ALARM`.
            min_alarm(v: f64);
            /// Above this, the read quality is `ATTR_ALARM`.
            max_alarm(v: f64);
            /// Below this, the read quality is `ATTR_WARNING`.
            min_warning(v: f64);
            /// Above this, the read quality is `ATTR_WARNING`.
            max_warning(v: f64);
            /// Display level.
            display_level(l: DispLevel);
            /// The written value is memorized.
            memorized();
            /// Reading (and writing) is allowed only in these states.
            allowed_in(states: &[DevState]);
            /// Writing is allowed only in these states.
            write_allowed_in(states: &[DevState]);
            /// Polled from start-up every `ms` milliseconds.
            polling_period(ms: u32);
        }

        /// A `DevEnum` attribute: `i16` values indexing these labels.
        pub fn enum_labels<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
            self.inner = self.inner.enum_labels(labels);
            self
        }
    };
}
pub(super) use attr_config_methods;

/// The configuration methods of a command, for a type whose `inner` is a `Cmd<()>`.
macro_rules! cmd_config_methods {
    () => {
        $crate::device::typed::delegate! {
            /// Allowed only in these states (else `API_CommandNotAllowed`).
            allowed_in(states: &[DevState]);
            /// Allowed in every state but these.
            not_allowed_in(states: &[DevState]);
            /// Describes the argument.
            in_desc(s: &str);
            /// Describes the result.
            out_desc(s: &str);
            /// Display level.
            display_level(l: DispLevel);
        }
    };
}
pub(super) use cmd_config_methods;

/// The handlers of a class's attributes (read `R`, write `W`) and commands (`X`), at the
/// positions of its [`ClassInfo`] lists.
pub(super) struct Table<R, W, X> {
    reads: Vec<Option<R>>,
    writes: Vec<Option<W>>,
    runs: Vec<Option<X>>,
    names: Vec<String>,
    cmd_names: Vec<String>,
}

fn no_handler(what: &str, name: &str, ctx: &DeviceCtx) -> DevFailed {
    DevFailed::new(
        "API_NotSupportedFeature",
        format!("{what} {name} has no implementation in this device"),
        ctx.name(),
    )
}

impl<R, W, X> Table<R, W, X> {
    /// How attribute `i` is read; an error if the class gave no reader.
    pub(super) fn read(&self, i: usize, ctx: &DeviceCtx) -> Result<&R, DevFailed> {
        self.reads.get(i).and_then(Option::as_ref).ok_or_else(|| {
            let name = self.names.get(i).map_or("?", String::as_str);
            no_handler("reading attribute", name, ctx)
        })
    }

    /// How attribute `i` takes a written value, if the class says (the framework keeps
    /// the set point anyway).
    pub(super) fn write(&self, i: usize) -> Option<&W> {
        self.writes.get(i).and_then(Option::as_ref)
    }

    /// How command `i` runs; an error for a command without code (the built-ins are the
    /// dispatcher's).
    pub(super) fn command(&self, i: usize, ctx: &DeviceCtx) -> Result<&X, DevFailed> {
        self.runs.get(i).and_then(Option::as_ref).ok_or_else(|| {
            let name = self.cmd_names.get(i).map_or("?", String::as_str);
            no_handler("command", name, ctx)
        })
    }
}

/// The description of a class named `name` with these attributes (with their read and
/// write handlers) and commands (with their code): the one the synchronous builder makes
/// from the same attributes and commands (built-ins, order, default configurations), and
/// the handlers at its positions.
pub(super) fn describe<R, W, X: Clone>(
    name: &str,
    description: Option<&str>,
    attrs: Vec<(Attr<()>, Option<R>, Option<W>)>,
    cmds: Vec<(Cmd<()>, X)>,
) -> (ClassInfo, Table<R, W, X>) {
    let mut sync = ClassBuilder::new(name, |_| ());
    if let Some(d) = description {
        sync = sync.description(d);
    }
    let mut reads = Vec::with_capacity(attrs.len());
    let mut writes = Vec::with_capacity(attrs.len());
    for (attr, read, write) in attrs {
        reads.push(read);
        writes.push(write);
        sync = sync.attr(attr);
    }
    let mut named_runs = Vec::with_capacity(cmds.len());
    for (cmd, run) in cmds {
        named_runs.push((cmd.def().name.clone(), run));
        sync = sync.command(cmd);
    }
    let info = (*sync.build().info).clone();
    let runs = info
        .commands
        .iter()
        .map(|d| {
            if d.builtin.is_some() {
                return None;
            }
            named_runs
                .iter()
                .find(|(n, _)| *n == d.name)
                .map(|(_, r)| r.clone())
        })
        .collect();
    let table = Table {
        reads,
        writes,
        runs,
        names: info
            .attributes
            .iter()
            .map(|a| a.config.name.clone())
            .collect(),
        cmd_names: info.commands.iter().map(|c| c.name.clone()).collect(),
    };
    (info, table)
}

/// What a call gives back, for the error of a panic.
#[derive(Debug, Clone, Copy)]
pub(super) enum CallKind {
    Read,
    Command,
    State,
    Status,
    Done,
}

impl CallKind {
    pub(super) fn of(call: &Call) -> Self {
        match call {
            Call::Read(_) => CallKind::Read,
            Call::Command(..) => CallKind::Command,
            Call::State => CallKind::State,
            Call::Status => CallKind::Status,
            Call::Write(..) | Call::Init => CallKind::Done,
        }
    }
}

/// The message of a panic payload.
pub(super) fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// The outcome of a call whose device code panicked with `what`:
/// `API_DeviceCodePanicked` (state `UNKNOWN`, the message as status).
pub(super) fn panicked(kind: CallKind, ctx: &DeviceCtx, what: &str) -> Outcome {
    let err = DevFailed::new(
        "API_DeviceCodePanicked",
        format!("device code panicked: {what}"),
        ctx.name(),
    );
    match kind {
        CallKind::Read => Outcome::Read(Err(err)),
        CallKind::Command => Outcome::Command(Err(err)),
        CallKind::State => Outcome::State(DevState::Unknown),
        CallKind::Status => Outcome::Status(err.errors[0].desc.clone()),
        CallKind::Done => Outcome::Done(Err(err)),
    }
}
