//! GIOP message framing, versions 1.0 to 1.2.
//!
//! Tango peers speak GIOP **1.0** in no-database mode (every `#dbase=no` session) and
//! **1.2** to devices found through a database (see `wire-notes.md` §3), so both must
//! be first-class; 1.1 costs three reserved octets and comes for free.
//!
//! The layout facts that matter, and that this module encodes once so nobody else has
//! to remember them:
//!
//! * Alignment is relative to the first byte of the 12-byte header (the `G` of `GIOP`),
//!   never to the start of the body. Every writer and reader here uses offset 0 of the
//!   message as its CDR origin.
//! * 1.0/1.1 put the service-context list *first* in requests and replies; 1.2 puts it
//!   after the operation (request) or the reply status (reply), addresses the target
//!   with a `TargetAddress` union, and pads the body to an 8-byte boundary.
//! * Padding is garbage on the wire (omniORB never zeroes it): we never check it.
//! * Input is untrusted: [`FrameDecoder`] bounds every message by a maximum size before
//!   it waits for (and buffers) its bytes.

use std::collections::HashMap;
use std::fmt;

use crate::cdr::{self, ByteOrder, CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};
use crate::ior::{self, IiopProfile, Ior};

/// Length of the fixed GIOP message header (magic, version, flags, type, body size).
pub const HEADER_LEN: usize = 12;

/// Default bound on one message (header + body, after fragment reassembly).
///
/// The largest Tango message seen in the captures is about 504 KB (a 251×251 image);
/// 64 MiB leaves room for big images while still stopping a forged body length from
/// making us buffer gigabytes.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Flags bit 1: more fragments follow (GIOP 1.1 and later).
const FLAG_MORE_FRAGMENTS: u8 = 0x02;

/// A GIOP protocol version (header octets 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// Major version (always 1).
    pub major: u8,
    /// Minor version (0, 1 or 2).
    pub minor: u8,
}

impl Version {
    /// GIOP 1.0: what every no-database Tango session uses.
    pub const V1_0: Version = Version { major: 1, minor: 0 };
    /// GIOP 1.1: 1.0 plus fragments and three reserved octets in the request header.
    pub const V1_1: Version = Version { major: 1, minor: 1 };
    /// GIOP 1.2: what omniORB uses towards devices whose IOR came from the database.
    pub const V1_2: Version = Version { major: 1, minor: 2 };

    fn supported(self) -> bool {
        self.major == 1 && self.minor <= 2
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The GIOP message type (header octet 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    /// An invocation.
    Request = 0,
    /// The answer to a request.
    Reply = 1,
    /// The client gives up waiting for a reply.
    CancelRequest = 2,
    /// "Is this object here?"
    LocateRequest = 3,
    /// The answer to a locate request.
    LocateReply = 4,
    /// The sender is closing the connection (omniORB servers send it after 180 s idle).
    CloseConnection = 5,
    /// The sender could not understand a message.
    MessageError = 6,
    /// The continuation of a fragmented message (1.1 and later).
    Fragment = 7,
}

impl MsgType {
    /// The name used by the CORBA specification (`Request`, `LocateReply`...).
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Request => "Request",
            MsgType::Reply => "Reply",
            MsgType::CancelRequest => "CancelRequest",
            MsgType::LocateRequest => "LocateRequest",
            MsgType::LocateReply => "LocateReply",
            MsgType::CloseConnection => "CloseConnection",
            MsgType::MessageError => "MessageError",
            MsgType::Fragment => "Fragment",
        }
    }
}

impl TryFrom<u8> for MsgType {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        Ok(match v {
            0 => MsgType::Request,
            1 => MsgType::Reply,
            2 => MsgType::CancelRequest,
            3 => MsgType::LocateRequest,
            4 => MsgType::LocateReply,
            5 => MsgType::CloseConnection,
            6 => MsgType::MessageError,
            7 => MsgType::Fragment,
            other => return Err(other),
        })
    }
}

impl From<MsgType> for u8 {
    fn from(t: MsgType) -> u8 {
        t as u8
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fixed 12-byte header of every GIOP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version; replies must use the version of the request.
    pub version: Version,
    /// Byte order of the header's body length and of the whole body (flags bit 0).
    pub byte_order: ByteOrder,
    /// Flags bit 1: a `Fragment` continues this message.
    pub more_fragments: bool,
    /// What the body is.
    pub msg_type: MsgType,
    /// Bytes after the header.
    pub body_len: u32,
}

impl Header {
    /// Total message length (header + body).
    pub fn message_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }
}

/// Parses the first 12 bytes of `bytes` as a GIOP header.
///
/// Fails on a short buffer, a magic other than `GIOP`, a version outside 1.0..=1.2 and an
/// unknown message type. It does not check `more_fragments` against the version: that
/// is the framer's business ([`FrameDecoder`]).
pub fn parse_header(bytes: &[u8]) -> Result<Header, GiopError> {
    if bytes.len() < HEADER_LEN {
        return Err(GiopError::Decode(cdr::DecodeError::Truncated {
            what: "GIOP header",
            offset: 0,
            needed: HEADER_LEN,
            remaining: bytes.len(),
        }));
    }
    let magic: [u8; 4] = bytes[0..4].try_into().expect("4 bytes");
    if &magic != b"GIOP" {
        return Err(GiopError::BadMagic(magic));
    }
    let version = Version {
        major: bytes[4],
        minor: bytes[5],
    };
    if !version.supported() {
        return Err(GiopError::UnsupportedVersion(version));
    }
    let flags = bytes[6];
    let byte_order = ByteOrder::from_flag(flags);
    let msg_type = MsgType::try_from(bytes[7]).map_err(GiopError::UnknownMessageType)?;
    let len: [u8; 4] = bytes[8..12].try_into().expect("4 bytes");
    let body_len = match byte_order {
        ByteOrder::Little => u32::from_le_bytes(len),
        ByteOrder::Big => u32::from_be_bytes(len),
    };
    Ok(Header {
        version,
        byte_order,
        more_fragments: flags & FLAG_MORE_FRAGMENTS != 0,
        msg_type,
        body_len,
    })
}

/// Context id of the CodeSets service context (`IOP::CodeSets`).
pub const CODE_SETS: u32 = 1;

/// An `IOP::ServiceContext`: an id and opaque (usually encapsulated) data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContext {
    /// The context id (1 = CodeSets).
    pub id: u32,
    /// The context data, as sent (an encapsulation for every standard context).
    pub data: Vec<u8>,
}

impl ServiceContext {
    /// The CodeSets context exactly as omniORB sends it on the first GIOP 1.2 request
    /// of a connection: char ISO-8859-1 (0x00010001), wchar UTF-16 (0x00010109).
    ///
    /// Tango strings are Latin-1; announcing that keeps an omniORB server from
    /// transcoding (wire-notes §3.4).
    pub fn code_sets_latin1_utf16() -> Self {
        ServiceContext {
            id: CODE_SETS,
            data: vec![
                0x01, 0, 0, 0, 0x01, 0x00, 0x01, 0x00, 0x09, 0x01, 0x01, 0x00,
            ],
        }
    }
}

impl CdrEncode for ServiceContext {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_ulong(self.id);
        w.write_octets(&self.data);
    }
}

impl CdrDecode for ServiceContext {
    const MIN_SIZE: usize = 8;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        let id = r.read_ulong()?;
        let data = r.read_octets()?.to_vec();
        Ok(ServiceContext { id, data })
    }
}

/// The header of a `Request` message, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Chosen by the client, echoed in the reply (omniORB: 2, 4, 6... per connection).
    pub request_id: u32,
    /// False for a oneway (1.0/1.1 `response_expected`, 1.2 `response_flags` bit 0).
    pub response_expected: bool,
    /// The target object's key (in no-database Tango, the lower-cased device name).
    pub object_key: Vec<u8>,
    /// The operation name (`_is_a`, `command_inout_4`...).
    pub operation: String,
    /// Service contexts (empty in every 1.0 message seen; CodeSets on the first 1.2).
    pub service_contexts: Vec<ServiceContext>,
}

crate::cdr_enum! {
    /// The status of a `Reply`: what its body holds.
    pub enum ReplyStatus {
        /// The body is the result (return value, then out arguments).
        NoException = 0 => "NO_EXCEPTION",
        /// The body is an IDL user exception (Tango's `DevFailed`).
        UserException = 1 => "USER_EXCEPTION",
        /// The body is a CORBA [`SystemException`].
        SystemException = 2 => "SYSTEM_EXCEPTION",
        /// The body is an IOR to retry with.
        LocationForward = 3 => "LOCATION_FORWARD",
        /// Like `LocationForward`, permanently (1.2).
        LocationForwardPerm = 4 => "LOCATION_FORWARD_PERM",
        /// The server wants another `TargetAddress` form (1.2).
        NeedsAddressingMode = 5 => "NEEDS_ADDRESSING_MODE",
    }
}

/// The header of a `Reply` message, version-independent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The id of the request answered.
    pub request_id: u32,
    /// What the body holds.
    pub status: ReplyStatus,
    /// Service contexts (always empty from the servers observed).
    pub service_contexts: Vec<ServiceContext>,
}

crate::cdr_enum! {
    /// Whether the operation ran before a system exception was raised.
    pub enum CompletionStatus {
        /// It completed.
        Yes = 0 => "COMPLETED_YES",
        /// It never started (safe to retry).
        No = 1 => "COMPLETED_NO",
        /// Unknown.
        Maybe = 2 => "COMPLETED_MAYBE",
    }
}

/// A CORBA system exception (`BAD_OPERATION`, `OBJECT_NOT_EXIST`, `MARSHAL`...): how a
/// server reports an unknown operation or object key, which Tango does *not* turn into
/// a `DevFailed` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemException {
    /// Repository id, e.g. `IDL:omg.org/CORBA/BAD_OPERATION:1.0`.
    pub repo_id: String,
    /// Vendor minor code (omniORB's are listed in [`minor`]).
    pub minor: u32,
    /// Whether the operation ran.
    pub completed: CompletionStatus,
}

/// omniORB minor codes that Tango servers send and that we reuse so clients built on
/// omniORB print the same messages for our servers.
pub mod minor {
    /// `BAD_OPERATION`: unknown operation name (`BAD_OPERATION_UnRecognisedOperationName`).
    pub const BAD_OPERATION_UNKNOWN: u32 = 0x4154_0026;
    /// `OBJECT_NOT_EXIST`: no object with that key (`OBJECT_NOT_EXIST_NoMatch`).
    pub const OBJECT_NOT_EXIST_NO_MATCH: u32 = 0x4f4d_0001;
    /// `MARSHAL`: arguments ended early (`MARSHAL_PassEndOfMessage`).
    pub const MARSHAL_PASS_END_OF_MESSAGE: u32 = 0x4154_000a;
    /// `BAD_PARAM`: a sequence index past its end (`BAD_PARAM_IndexOutOfRange`), what a
    /// cppTango server answers to an empty `set_attribute_config*` list.
    pub const BAD_PARAM_INDEX_OUT_OF_RANGE: u32 = 0x4154_0015;
}

const CORBA_PREFIX: &str = "IDL:omg.org/CORBA/";

impl SystemException {
    /// A standard CORBA system exception by its short name (`"BAD_OPERATION"`).
    pub fn new(name: &str, minor: u32, completed: CompletionStatus) -> Self {
        SystemException {
            repo_id: format!("{CORBA_PREFIX}{name}:1.0"),
            minor,
            completed,
        }
    }

    /// The short name (`BAD_OPERATION`), or the whole repository id if it is not a
    /// standard `IDL:omg.org/CORBA/...` one.
    pub fn name(&self) -> &str {
        match self.repo_id.strip_prefix(CORBA_PREFIX) {
            Some(rest) => rest.split(':').next().unwrap_or(rest),
            None => &self.repo_id,
        }
    }

    /// Writes the exception body: repository id, minor, completion status.
    pub fn encode(&self, w: &mut CdrWriter) {
        w.write_string(&self.repo_id);
        w.write_ulong(self.minor);
        self.completed.encode(w);
    }

    /// Reads an exception body.
    pub fn decode(r: &mut CdrReader) -> DecodeResult<Self> {
        let repo_id = r.read_string()?;
        let minor = r.read_ulong()?;
        let completed = CompletionStatus::decode(r)?;
        Ok(SystemException {
            repo_id,
            minor,
            completed,
        })
    }
}

impl fmt::Display for SystemException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CORBA system exception {} (minor {:#010x}, {})",
            self.name(),
            self.minor,
            self.completed
        )
    }
}

impl std::error::Error for SystemException {}

crate::cdr_enum! {
    /// The answer of a `LocateReply`.
    pub enum LocateStatus {
        /// No object with that key (what omniORB answers for an upper-case device name).
        UnknownObject = 0 => "UNKNOWN_OBJECT",
        /// The object is served here.
        ObjectHere = 1 => "OBJECT_HERE",
        /// The body is an IOR to use instead.
        ObjectForward = 2 => "OBJECT_FORWARD",
        /// Same, permanently (1.2).
        ObjectForwardPerm = 3 => "OBJECT_FORWARD_PERM",
        /// The body is a system exception (1.2).
        LocSystemException = 4 => "LOC_SYSTEM_EXCEPTION",
        /// The server wants another `TargetAddress` form (1.2).
        LocNeedsAddressingMode = 5 => "LOC_NEEDS_ADDRESSING_MODE",
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// A writer holding a header with a placeholder length; alignment origin at the `G`.
fn start_message(version: Version, msg_type: MsgType) -> CdrWriter {
    let mut w = CdrWriter::with_capacity(128);
    w.write_raw(b"GIOP");
    w.write_octet(version.major);
    w.write_octet(version.minor);
    w.write_octet(1); // little-endian, no more fragments
    w.write_octet(msg_type as u8);
    w.write_ulong(0);
    w
}

/// Patches the body length of a message built by [`start_message`].
fn finish(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = u32::try_from(bytes.len() - HEADER_LEN).expect("GIOP body exceeds u32::MAX");
    bytes[8..12].copy_from_slice(&body.to_le_bytes());
    bytes
}

/// 1.2 only: pads to 8 before a body, unless the body turns out to be empty (then the
/// padding is removed again: omniORB sends no padding before an empty body).
fn aligned_body(mut w: CdrWriter, body: impl FnOnce(&mut CdrWriter)) -> Vec<u8> {
    let before_pad = w.as_bytes().len();
    w.align(8);
    let after_pad = w.as_bytes().len();
    body(&mut w);
    let mut bytes = w.into_bytes();
    if bytes.len() == after_pad {
        bytes.truncate(before_pad);
    }
    bytes
}

fn write_contexts(w: &mut CdrWriter, contexts: &[ServiceContext]) {
    w.put(contexts);
}

/// `TargetAddress` with the `KeyAddr` (0) branch, the only one we send.
fn write_key_addr(w: &mut CdrWriter, key: &[u8]) {
    w.write_short(0);
    w.write_octets(key);
}

/// Encodes a complete `Request` (header with its length, little-endian); `args` writes
/// the arguments into the same CDR stream (alignment relative to the message start).
pub fn encode_request(
    version: Version,
    header: &RequestHeader,
    args: impl FnOnce(&mut CdrWriter),
) -> Vec<u8> {
    let mut w = start_message(version, MsgType::Request);
    if version.minor < 2 {
        write_contexts(&mut w, &header.service_contexts);
        w.write_ulong(header.request_id);
        w.write_bool(header.response_expected);
        if version.minor == 1 {
            w.write_raw(&[0, 0, 0]);
        }
        w.write_octets(&header.object_key);
        w.write_string(&header.operation);
        w.write_octets(&[]); // requesting_principal
        args(&mut w);
        finish(w.into_bytes())
    } else {
        w.write_ulong(header.request_id);
        // SYNC_WITH_TARGET (3) for a two-way call, SYNC_NONE (0) for a oneway.
        w.write_octet(if header.response_expected { 3 } else { 0 });
        w.write_raw(&[0, 0, 0]);
        write_key_addr(&mut w, &header.object_key);
        w.write_string(&header.operation);
        write_contexts(&mut w, &header.service_contexts);
        finish(aligned_body(w, args))
    }
}

/// Encodes a complete `Reply`; `body` writes the result or exception.
pub fn encode_reply(
    version: Version,
    header: &ReplyHeader,
    body: impl FnOnce(&mut CdrWriter),
) -> Vec<u8> {
    let mut w = start_message(version, MsgType::Reply);
    if version.minor < 2 {
        write_contexts(&mut w, &header.service_contexts);
        w.write_ulong(header.request_id);
        header.status.encode(&mut w);
        body(&mut w);
        finish(w.into_bytes())
    } else {
        w.write_ulong(header.request_id);
        header.status.encode(&mut w);
        write_contexts(&mut w, &header.service_contexts);
        finish(aligned_body(w, body))
    }
}

/// Encodes a `Reply` with status `SYSTEM_EXCEPTION` and no service contexts.
pub fn encode_system_exception_reply(
    version: Version,
    request_id: u32,
    ex: &SystemException,
) -> Vec<u8> {
    let header = ReplyHeader {
        request_id,
        status: ReplyStatus::SystemException,
        service_contexts: Vec::new(),
    };
    encode_reply(version, &header, |w| ex.encode(w))
}

/// Encodes a `LocateRequest` (1.2 addresses the object with `TargetAddress` `KeyAddr`).
pub fn encode_locate_request(version: Version, request_id: u32, object_key: &[u8]) -> Vec<u8> {
    let mut w = start_message(version, MsgType::LocateRequest);
    w.write_ulong(request_id);
    if version.minor < 2 {
        w.write_octets(object_key);
    } else {
        write_key_addr(&mut w, object_key);
    }
    finish(w.into_bytes())
}

/// Encodes a `LocateReply` without body (enough for `UNKNOWN_OBJECT` / `OBJECT_HERE`).
pub fn encode_locate_reply(version: Version, request_id: u32, status: LocateStatus) -> Vec<u8> {
    let mut w = start_message(version, MsgType::LocateReply);
    w.write_ulong(request_id);
    status.encode(&mut w);
    finish(w.into_bytes())
}

/// Encodes a `CancelRequest`.
pub fn encode_cancel_request(version: Version, request_id: u32) -> Vec<u8> {
    let mut w = start_message(version, MsgType::CancelRequest);
    w.write_ulong(request_id);
    finish(w.into_bytes())
}

/// Encodes a `CloseConnection` (header only): what an omniORB server sends after 180 s
/// of idleness.
pub fn encode_close_connection(version: Version) -> Vec<u8> {
    start_message(version, MsgType::CloseConnection).into_bytes()
}

/// Encodes a `MessageError` (header only).
pub fn encode_message_error(version: Version) -> Vec<u8> {
    start_message(version, MsgType::MessageError).into_bytes()
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// A complete (reassembled) message: `bytes[0..12]` is the header; alignment origin is
/// `bytes[0]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The parsed header (`body_len` matches `bytes`, `more_fragments` is false once
    /// reassembled).
    pub header: Header,
    /// The whole message, header included.
    pub bytes: Vec<u8>,
}

impl Message {
    /// The bytes after the header.
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER_LEN.min(self.bytes.len())..]
    }

    /// A reader positioned at the body (offset 12), origin at the header start, in the
    /// message's byte order.
    pub fn reader(&self) -> CdrReader<'_> {
        CdrReader::at(&self.bytes, HEADER_LEN, self.header.byte_order)
    }

    fn expect(&self, expected: MsgType) -> Result<CdrReader<'_>, GiopError> {
        if self.header.msg_type != expected {
            return Err(GiopError::WrongMessageType {
                expected,
                got: self.header.msg_type,
            });
        }
        Ok(self.reader())
    }
}

/// Reads a 1.2 `TargetAddress` and returns the object key it designates.
fn read_target_address(r: &mut CdrReader<'_>) -> DecodeResult<Vec<u8>> {
    let disc = r.read_short()?;
    match disc {
        0 => Ok(r.read_octets()?.to_vec()),
        1 => {
            let tag = r.read_ulong()?;
            let data = r.read_octets()?;
            if tag != ior::TAG_INTERNET_IOP {
                return Err(r.malformed(
                    "TargetAddress",
                    format!("ProfileAddr with profile tag {tag}, not TAG_INTERNET_IOP"),
                ));
            }
            IiopProfile::decode(data)
                .map(|p| p.object_key)
                .map_err(|e| r.malformed("TargetAddress", format!("ProfileAddr: {e}")))
        }
        2 => {
            let selected = r.read_ulong()? as usize;
            let ior = Ior::decode_cdr(r)?;
            let chosen = ior
                .profiles
                .get(selected)
                .filter(|p| p.tag == ior::TAG_INTERNET_IOP)
                .or_else(|| ior.profiles.iter().find(|p| p.tag == ior::TAG_INTERNET_IOP))
                .ok_or_else(|| {
                    r.malformed("TargetAddress", "ReferenceAddr IOR has no IIOP profile")
                })?;
            IiopProfile::decode(&chosen.data)
                .map(|p| p.object_key)
                .map_err(|e| r.malformed("TargetAddress", format!("ReferenceAddr: {e}")))
        }
        other => Err(r.invalid("TargetAddress discriminant", other as u16 as u64)),
    }
}

/// 1.2: the body starts at the next 8-byte boundary, if there is a body at all.
fn skip_body_alignment(r: &mut CdrReader<'_>) -> DecodeResult<()> {
    if r.remaining() > 0 {
        r.align(8)?;
    }
    Ok(())
}

/// Decodes a `Request` header; the reader returned is positioned at the first argument.
pub fn decode_request(msg: &Message) -> Result<(RequestHeader, CdrReader<'_>), GiopError> {
    let mut r = msg.expect(MsgType::Request)?;
    let header = if msg.header.version.minor < 2 {
        let service_contexts = r.read_seq("service contexts")?;
        let request_id = r.read_ulong()?;
        let response_expected = r.read_bool()?;
        if msg.header.version.minor == 1 {
            r.take(3, "reserved")?;
        }
        let object_key = r.read_octets()?.to_vec();
        let operation = r.read_string()?;
        let _principal = r.read_octets()?;
        RequestHeader {
            request_id,
            response_expected,
            object_key,
            operation,
            service_contexts,
        }
    } else {
        let request_id = r.read_ulong()?;
        let flags = r.read_octet()?;
        r.take(3, "reserved")?;
        let object_key = read_target_address(&mut r)?;
        let operation = r.read_string()?;
        let service_contexts = r.read_seq("service contexts")?;
        skip_body_alignment(&mut r)?;
        RequestHeader {
            request_id,
            // bit 0: a reply is expected (SYNC_WITH_SERVER 1, SYNC_WITH_TARGET 3)
            response_expected: flags & 1 != 0,
            object_key,
            operation,
            service_contexts,
        }
    };
    Ok((header, r))
}

/// The data of the service context `id` of a `Request`, if it carries one (the first
/// one, if several). GIOP 1.0 and 1.1 put the contexts first, so this reads only them
/// (no copy of the object key or operation); 1.2 puts them after the target address,
/// and the header is decoded.
pub fn find_request_context(msg: &Message, id: u32) -> Result<Option<Vec<u8>>, GiopError> {
    if msg.header.version.minor >= 2 {
        let (header, _) = decode_request(msg)?;
        return Ok(header
            .service_contexts
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.data));
    }
    let mut r = msg.expect(MsgType::Request)?;
    let n = r.read_len(ServiceContext::MIN_SIZE, "service contexts")?;
    for _ in 0..n {
        let this = r.read_ulong()?;
        let data = r.read_octets()?;
        if this == id {
            return Ok(Some(data.to_vec()));
        }
    }
    Ok(None)
}

/// Decodes a `Reply` header; the reader returned is positioned at the body.
pub fn decode_reply(msg: &Message) -> Result<(ReplyHeader, CdrReader<'_>), GiopError> {
    let mut r = msg.expect(MsgType::Reply)?;
    let header = if msg.header.version.minor < 2 {
        let service_contexts = r.read_seq("service contexts")?;
        let request_id = r.read_ulong()?;
        let status = ReplyStatus::decode(&mut r)?;
        ReplyHeader {
            request_id,
            status,
            service_contexts,
        }
    } else {
        let request_id = r.read_ulong()?;
        let status = ReplyStatus::decode(&mut r)?;
        let service_contexts = r.read_seq("service contexts")?;
        skip_body_alignment(&mut r)?;
        ReplyHeader {
            request_id,
            status,
            service_contexts,
        }
    };
    Ok((header, r))
}

/// Decodes a `LocateRequest`: request id and object key.
pub fn decode_locate_request(msg: &Message) -> Result<(u32, Vec<u8>), GiopError> {
    let mut r = msg.expect(MsgType::LocateRequest)?;
    let id = r.read_ulong()?;
    let key = if msg.header.version.minor < 2 {
        r.read_octets()?.to_vec()
    } else {
        read_target_address(&mut r)?
    };
    Ok((id, key))
}

/// Decodes a `LocateReply`: request id and status (a forward body, if any, is ignored).
pub fn decode_locate_reply(msg: &Message) -> Result<(u32, LocateStatus), GiopError> {
    let mut r = msg.expect(MsgType::LocateReply)?;
    let id = r.read_ulong()?;
    let status = LocateStatus::decode(&mut r)?;
    Ok((id, status))
}

/// Decodes a `CancelRequest`: the id of the request to cancel.
pub fn decode_cancel_request(msg: &Message) -> Result<u32, GiopError> {
    let mut r = msg.expect(MsgType::CancelRequest)?;
    Ok(r.read_ulong()?)
}

/// Wraps bytes known to hold exactly one whole message (a blocking reader that read the
/// header, then `body_len` bytes). Checks the header and that the length matches.
pub fn message_from_bytes(bytes: Vec<u8>) -> Result<Message, GiopError> {
    let header = parse_header(&bytes)?;
    if bytes.len() != header.message_len() {
        return Err(GiopError::Decode(cdr::DecodeError::Malformed {
            what: "GIOP message",
            offset: 8,
            detail: format!(
                "header announces a {}-byte body but {} bytes follow the header",
                header.body_len,
                bytes.len() - HEADER_LEN
            ),
        }));
    }
    Ok(Message { header, bytes })
}

// ---------------------------------------------------------------------------------------
// Framing and fragment reassembly
// ---------------------------------------------------------------------------------------

/// Incremental framer: push received bytes, pull whole messages.
///
/// It reassembles fragments: in GIOP 1.1 a `Fragment` (12-byte header, then data)
/// continues the last message sent with `more_fragments`; in GIOP 1.2 a `Fragment`
/// body starts with the `request_id` of the message it continues, so fragments of
/// several messages may interleave. Reassembled messages look as if they had been
/// sent whole (`more_fragments` cleared, `body_len` patched).
///
/// Memory is bounded: a message whose header announces more than the maximum size is
/// refused as soon as its header arrives, before its body is waited for; the bytes
/// held for incomplete fragmented messages are bounded by the same maximum (in total).
/// After an error the stream is out of sync and the connection should be closed.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Index in `buf` of the first byte not yet consumed. Consumed bytes are removed
    /// only when they make up at least half the buffer, so framing stays O(n).
    start: usize,
    max: usize,
    /// GIOP 1.1: the message being continued by fragments.
    pending_11: Option<Message>,
    /// GIOP 1.2: messages being continued by fragments, by request id.
    pending_12: HashMap<u32, Message>,
    /// Total bytes in `pending_11` and `pending_12`.
    pending_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A framer bounded by [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub fn new() -> Self {
        Self::with_max_message_size(DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A framer refusing messages (header included, after reassembly) above `max` bytes.
    pub fn with_max_message_size(max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max,
            pending_11: None,
            pending_12: HashMap::new(),
            pending_bytes: 0,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 4096 && self.start * 2 >= self.buf.len() {
            // moves fewer bytes than were consumed since the last compaction: amortised O(1)
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet returned in a message: unparsed input plus the
    /// fragments of incomplete fragmented messages. Non-zero at end of stream means the
    /// peer closed in the middle of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start + self.pending_bytes
    }

    /// The next complete message, `None` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, GiopError> {
        loop {
            let avail = &self.buf[self.start..];
            if avail.len() < HEADER_LEN {
                return Ok(None);
            }
            let header = parse_header(avail)?;
            let size = header.message_len();
            if size > self.max {
                return Err(GiopError::MessageTooLarge {
                    size,
                    max: self.max,
                });
            }
            if avail.len() < size {
                return Ok(None);
            }
            let bytes = avail[..size].to_vec();
            self.start += size;
            let msg = Message { header, bytes };
            if let Some(done) = self.reassemble(msg)? {
                return Ok(Some(done));
            }
        }
    }

    /// Feeds one framed message through fragment reassembly; returns it when complete.
    fn reassemble(&mut self, msg: Message) -> Result<Option<Message>, GiopError> {
        let h = msg.header;
        if h.version.minor == 0 && (h.more_fragments || h.msg_type == MsgType::Fragment) {
            return Err(GiopError::UnexpectedFragment(format!(
                "GIOP 1.0 has no fragments, got a {} with more_fragments={}",
                h.msg_type, h.more_fragments
            )));
        }
        if h.msg_type == MsgType::Fragment {
            let (mut pending, data_start) = if h.version.minor == 1 {
                let p = self.pending_11.take().ok_or_else(|| {
                    GiopError::UnexpectedFragment(
                        "GIOP 1.1 Fragment with no fragmented message pending".into(),
                    )
                })?;
                (p, HEADER_LEN)
            } else {
                let id = fragment_request_id(&msg)?;
                let p = self.pending_12.remove(&id).ok_or_else(|| {
                    GiopError::UnexpectedFragment(format!(
                        "GIOP 1.2 Fragment for request id {id} with no fragmented message pending"
                    ))
                })?;
                (p, HEADER_LEN + 4)
            };
            self.pending_bytes -= pending.bytes.len();
            if pending.header.byte_order != h.byte_order || pending.header.version != h.version {
                return Err(GiopError::UnexpectedFragment(format!(
                    "Fragment (GIOP {}, {:?}) does not match its message (GIOP {}, {:?})",
                    h.version, h.byte_order, pending.header.version, pending.header.byte_order
                )));
            }
            let data = &msg.bytes[data_start..];
            let size = pending.bytes.len() + data.len();
            if size > self.max || self.pending_bytes + size > self.max {
                return Err(GiopError::MessageTooLarge {
                    size: size.max(self.pending_bytes + size),
                    max: self.max,
                });
            }
            pending.bytes.extend_from_slice(data);
            if h.more_fragments {
                self.store_pending(pending)?;
                Ok(None)
            } else {
                let body_len = u32::try_from(pending.bytes.len() - HEADER_LEN).map_err(|_| {
                    GiopError::MessageTooLarge {
                        size: pending.bytes.len(),
                        max: HEADER_LEN + u32::MAX as usize,
                    }
                })?;
                pending.header.body_len = body_len;
                pending.header.more_fragments = false;
                pending.bytes[6] &= !FLAG_MORE_FRAGMENTS;
                let len = match pending.header.byte_order {
                    ByteOrder::Little => body_len.to_le_bytes(),
                    ByteOrder::Big => body_len.to_be_bytes(),
                };
                pending.bytes[8..12].copy_from_slice(&len);
                Ok(Some(pending))
            }
        } else if h.more_fragments {
            if self.pending_bytes + msg.bytes.len() > self.max {
                return Err(GiopError::MessageTooLarge {
                    size: self.pending_bytes + msg.bytes.len(),
                    max: self.max,
                });
            }
            self.store_pending(msg)?;
            Ok(None)
        } else {
            Ok(Some(msg))
        }
    }

    fn store_pending(&mut self, msg: Message) -> Result<(), GiopError> {
        let len = msg.bytes.len();
        if msg.header.version.minor == 1 {
            if self.pending_11.is_some() {
                return Err(GiopError::UnexpectedFragment(
                    "GIOP 1.1 message with more_fragments while another is still incomplete".into(),
                ));
            }
            self.pending_11 = Some(msg);
        } else {
            let id = fragment_request_id(&msg)?;
            if self.pending_12.contains_key(&id) {
                return Err(GiopError::UnexpectedFragment(format!(
                    "second fragmented GIOP 1.2 message with request id {id}"
                )));
            }
            self.pending_12.insert(id, msg);
        }
        self.pending_bytes += len;
        Ok(())
    }
}

/// The request id at the start of a 1.2 body (every fragmentable 1.2 message and every
/// 1.2 `Fragment` starts with it).
fn fragment_request_id(msg: &Message) -> Result<u32, GiopError> {
    match msg.header.msg_type {
        MsgType::Request
        | MsgType::Reply
        | MsgType::LocateRequest
        | MsgType::LocateReply
        | MsgType::Fragment => Ok(msg.reader().read_ulong()?),
        other => Err(GiopError::UnexpectedFragment(format!(
            "a {other} message cannot be fragmented"
        ))),
    }
}

/// Why bytes are not an acceptable GIOP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GiopError {
    /// The first four bytes are not `GIOP`: not a GIOP peer, or the stream lost sync.
    #[error("not a GIOP message: magic {0:02x?} instead of \"GIOP\"")]
    BadMagic([u8; 4]),
    /// A version we do not speak.
    #[error("unsupported GIOP version {0}: only 1.0, 1.1 and 1.2 are supported")]
    UnsupportedVersion(Version),
    /// Header octet 7 is not a known message type.
    #[error("unknown GIOP message type {0} (expected 0 to 7)")]
    UnknownMessageType(u8),
    /// A message (header included, after reassembly) exceeds the configured bound.
    #[error("GIOP message of {size} bytes exceeds the maximum of {max} bytes")]
    MessageTooLarge {
        /// The size announced or reached.
        size: usize,
        /// The bound.
        max: usize,
    },
    /// A fragment that does not fit (1.0 message, nothing pending, mismatch...).
    #[error("unexpected GIOP fragment: {0}")]
    UnexpectedFragment(String),
    /// A decoder was handed another type of message.
    #[error("expected a GIOP {expected} message, got {got}")]
    WrongMessageType {
        /// What the decoder decodes.
        expected: MsgType,
        /// What it was given.
        got: MsgType,
    },
    /// The body is not well-formed CDR.
    #[error("malformed GIOP message: {0}")]
    Decode(#[from] cdr::DecodeError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: u32, op: &str) -> RequestHeader {
        RequestHeader {
            request_id: id,
            response_expected: true,
            object_key: b"sys/tg_test/1".to_vec(),
            operation: op.into(),
            service_contexts: vec![],
        }
    }

    #[test]
    fn close_connection_bytes() {
        assert_eq!(
            encode_close_connection(Version::V1_0),
            [0x47, 0x49, 0x4f, 0x50, 1, 0, 1, 5, 0, 0, 0, 0]
        );
        assert_eq!(encode_message_error(Version::V1_2)[4..8], [1, 2, 1, 6]);
    }

    #[test]
    fn is_a_request_matches_wire_notes_layout() {
        let bytes = encode_request(Version::V1_0, &req(2, "_is_a"), |w| {
            w.write_string("IDL:Tango/Device_6:1.0")
        });
        assert_eq!(bytes.len(), 12 + 0x4b);
        assert_eq!(
            &bytes[0..12],
            &[0x47, 0x49, 0x4f, 0x50, 1, 0, 1, 0, 0x4b, 0, 0, 0]
        );
        assert_eq!(&bytes[0x18..0x1c], &[0x0d, 0, 0, 0]);
        assert_eq!(&bytes[0x2c..0x30], &[6, 0, 0, 0]);
        let msg = message_from_bytes(bytes).unwrap();
        let (h, mut r) = decode_request(&msg).unwrap();
        assert_eq!(h, req(2, "_is_a"));
        assert_eq!(r.read_string().unwrap(), "IDL:Tango/Device_6:1.0");
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn v1_2_padding_only_with_arguments() {
        let mut h = req(2, "_non_existent");
        h.object_key = vec![
            0xfe, 0xb2, 0x13, 0x08, 0x6b, 0, 0, 0x33, 0x1b, 0, 0, 0, 0, 0,
        ];
        h.service_contexts = vec![ServiceContext::code_sets_latin1_utf16()];
        let bytes = encode_request(Version::V1_2, &h, |_| {});
        assert_eq!(bytes.len(), 12 + 76);
        assert_eq!(
            &bytes[0x40..0x58],
            &[1, 0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 9, 1, 1, 0]
        );
        let m = message_from_bytes(bytes).unwrap();
        let (d, r) = decode_request(&m).unwrap();
        assert_eq!(d, h);
        assert_eq!(r.remaining(), 0);

        // header ending at 0x44: 4 padding bytes before the argument
        h.operation = "command_query_2".into();
        h.service_contexts.clear();
        let bytes = encode_request(Version::V1_2, &h, |w| w.write_string("State"));
        let m = message_from_bytes(bytes).unwrap();
        let (d, mut r) = decode_request(&m).unwrap();
        assert_eq!(r.position(), 0x48);
        assert_eq!(r.read_string().unwrap(), "State");
        assert_eq!(d, h);
    }

    #[test]
    fn replies_all_versions() {
        for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let h = ReplyHeader {
                request_id: 7,
                status: ReplyStatus::NoException,
                service_contexts: vec![ServiceContext {
                    id: 5,
                    data: vec![1, 2, 3],
                }],
            };
            let bytes = encode_reply(v, &h, |w| w.write_double(1.5));
            let msg = message_from_bytes(bytes).unwrap();
            let (d, mut r) = decode_reply(&msg).unwrap();
            assert_eq!(d, h);
            assert_eq!(r.read_double().unwrap(), 1.5);
            assert_eq!(r.remaining(), 0);
            let empty = encode_reply(v, &h, |_| {});
            let m = message_from_bytes(empty).unwrap();
            let (_, r) = decode_reply(&m).unwrap();
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn system_exception_round_trip_and_display() {
        let ex = SystemException::new(
            "BAD_OPERATION",
            minor::BAD_OPERATION_UNKNOWN,
            CompletionStatus::No,
        );
        assert_eq!(ex.repo_id, "IDL:omg.org/CORBA/BAD_OPERATION:1.0");
        assert_eq!(ex.name(), "BAD_OPERATION");
        assert_eq!(
            ex.to_string(),
            "CORBA system exception BAD_OPERATION (minor 0x41540026, COMPLETED_NO)"
        );
        let bytes = encode_system_exception_reply(Version::V1_0, 1, &ex);
        assert_eq!(bytes.len(), 12 + 0x3c);
        let msg = message_from_bytes(bytes).unwrap();
        let (h, mut r) = decode_reply(&msg).unwrap();
        assert_eq!(h.status, ReplyStatus::SystemException);
        assert_eq!(SystemException::decode(&mut r).unwrap(), ex);
    }

    #[test]
    fn locate_and_cancel() {
        for v in [Version::V1_0, Version::V1_2] {
            let m = message_from_bytes(encode_locate_request(v, 1, b"a/b/c")).unwrap();
            assert_eq!(decode_locate_request(&m).unwrap(), (1, b"a/b/c".to_vec()));
            let m =
                message_from_bytes(encode_locate_reply(v, 1, LocateStatus::ObjectHere)).unwrap();
            assert_eq!(
                decode_locate_reply(&m).unwrap(),
                (1, LocateStatus::ObjectHere)
            );
            let m = message_from_bytes(encode_cancel_request(v, 9)).unwrap();
            assert_eq!(decode_cancel_request(&m).unwrap(), 9);
            assert!(matches!(
                decode_reply(&m),
                Err(GiopError::WrongMessageType {
                    expected: MsgType::Reply,
                    got: MsgType::CancelRequest
                })
            ));
        }
        assert_eq!(
            encode_locate_reply(Version::V1_0, 1, LocateStatus::ObjectHere),
            [0x47, 0x49, 0x4f, 0x50, 1, 0, 1, 4, 8, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        );
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            parse_header(b"POIG\x01\x00\x01\x00\0\0\0\0"),
            Err(GiopError::BadMagic(m)) if &m == b"POIG"
        ));
        let e = parse_header(b"GIOP\x01\x09\x01\x00\0\0\0\0").unwrap_err();
        assert_eq!(
            e,
            GiopError::UnsupportedVersion(Version { major: 1, minor: 9 })
        );
        assert!(e.to_string().contains("1.0, 1.1 and 1.2"));
        assert_eq!(
            parse_header(b"GIOP\x01\x00\x01\x08\0\0\0\0"),
            Err(GiopError::UnknownMessageType(8))
        );
        assert!(matches!(parse_header(b"GIOP"), Err(GiopError::Decode(_))));
        let h = parse_header(b"GIOP\x01\x02\x02\x07\0\0\0\x10").unwrap();
        assert_eq!(h.byte_order, ByteOrder::Big);
        assert!(h.more_fragments);
        assert_eq!(h.body_len, 16);
        assert!(message_from_bytes(b"GIOP\x01\x00\x01\x05\x01\0\0\0".to_vec()).is_err());
    }

    #[test]
    fn target_address_profile_and_reference() {
        let profile = IiopProfile {
            version: Version::V1_2,
            host: "h".into(),
            port: 1,
            object_key: b"key".to_vec(),
            components: vec![],
        };
        for disc in [1i16, 2] {
            let mut w = start_message(Version::V1_2, MsgType::LocateRequest);
            w.write_ulong(4);
            w.write_short(disc);
            if disc == 1 {
                w.write_ulong(ior::TAG_INTERNET_IOP);
                w.write_octets(&profile.encode());
            } else {
                w.write_ulong(0);
                Ior::new_iiop("IDL:X:1.0", &profile).encode_cdr(&mut w);
            }
            let m = message_from_bytes(finish(w.into_bytes())).unwrap();
            assert_eq!(decode_locate_request(&m).unwrap(), (4, b"key".to_vec()));
        }
    }
}
