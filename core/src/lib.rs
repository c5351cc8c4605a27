//! # tango-core: the Tango Controls protocol, without I/O
//!
//! This crate turns bytes into Tango values and Tango calls into bytes. It never opens a
//! socket, never sleeps and never spawns: the runtime adapters (the `tango` facade's
//! synchronous client, and later tokio, async-std, smol and may) own the sockets and
//! drive it. That is how one implementation of the protocol serves every green mode.
//!
//! Read it bottom-up:
//!
//! * [`cdr`]: the Common Data Representation (alignment, byte order, bounded lengths).
//! * [`giop`]: GIOP message framing (1.0 to 1.2), request and reply headers, fragments.
//! * [`ior`]: object references (`IOR:...` strings, IIOP profiles, `corbaloc:`).
//! * [`name`]: Tango device and attribute names (`tango://host:port/a/b/c#dbase=no`).
//! * [`idl`]: the Tango IDL types (DevError, AttributeValue_5, AttributeConfig_5, ...).
//! * [`any`]: CORBA `any` with the TypeCodes Tango commands use, and [`any::CommandData`].
//! * [`value`]: typed data as users hold it ([`value::AttrData`], [`value::Image`]) and the
//!   conversions between Rust values and Tango types.
//! * [`ops`]: each Tango operation as a value: its name, how its arguments encode and
//!   how its result decodes.
//! * [`device`]: how a device class is described ([`device::ClassBuilder`]) and how its
//!   code is called ([`device::SyncDevice`], [`device::Call`]).
//! * [`server`]: the device server dispatcher: GIOP requests in, [`device::Call`]s for the
//!   adapter to run, replies out; the admin device and polling.
//! * [`client`]: a client connection state machine: request ids, many outstanding
//!   requests, replies matched by id, late replies discarded.
#![forbid(unsafe_code)]

pub mod any;
pub mod cdr;
pub mod client;
pub mod device;
pub mod giop;
pub mod idl;
pub mod ior;
pub mod name;
pub mod ops;
pub mod server;
pub mod value;
