//! A client-side GIOP connection as a state machine, with no I/O.
//!
//! The adapter owns the socket. It asks [`ClientConnection::encode_request`] for the bytes
//! of a call (a fresh request id is allocated and remembered), writes them, feeds every
//! byte it reads to [`ClientConnection::handle_input`], and pulls [`Event`]s out with
//! [`ClientConnection::poll_event`]. Any number of requests may be outstanding; replies
//! are matched by request id, in whatever order the server sends them (omniORB answers
//! pipelined requests as they complete).
//!
//! A caller that gives up on a request (timeout, cancellation) calls
//! [`ClientConnection::abandon`]: when the late reply arrives it is dropped silently and
//! the connection stays usable. That is how "a timeout cancels the request" is done
//! without closing the connection as omniORB does.
//!
//! The driving order, for an adapter:
//! 1. `encode_request` and write the bytes;
//! 2. on readable: `handle_input(bytes)`, then `poll_event()` until `None`;
//! 3. on an [`Event::Closed`] or an error: every outstanding request fails; reconnect.

use std::collections::HashMap;

use crate::cdr::{CdrReader, DecodeError};
use crate::giop::{
    self, FrameDecoder, GiopError, Message, MsgType, ReplyStatus, RequestHeader, ServiceContext,
    SystemException, Version,
};
use crate::idl::{DevFailed, MultiDevFailed};
use crate::ior::Ior;
use crate::ops::Operation;

/// Identifies one request on one connection.
pub type RequestId = u32;

/// Something the connection has to say to its driver.
#[derive(Debug)]
pub enum Event {
    /// A reply to a request that is still wanted.
    Reply(Reply),
    /// The server sent `CloseConnection`: it processed none of the outstanding requests
    /// (GIOP guarantees it), which may be re-sent on a new connection. Their ids are given.
    Closed {
        /// Requests that were outstanding and may be retried.
        unanswered: Vec<RequestId>,
    },
}

/// A reply, still undecoded, matched to its request.
#[derive(Debug)]
pub struct Reply {
    /// The request it answers.
    pub request_id: RequestId,
    /// The reply status from the header.
    pub status: ReplyStatus,
    message: Message,
    body_offset: usize,
}

impl Reply {
    /// A reader over the reply body (the result or the exception).
    pub fn body(&self) -> CdrReader<'_> {
        CdrReader::at(
            &self.message.bytes,
            self.body_offset,
            self.message.header.byte_order,
        )
    }

    /// Decodes the outcome: the operation's result for `NO_EXCEPTION`, else the error.
    pub fn decode<O: Operation>(&self) -> Result<O::Output, CallError> {
        let mut r = self.body();
        match self.status {
            ReplyStatus::NoException => O::decode_result(&mut r).map_err(CallError::Decode),
            ReplyStatus::UserException => Err(decode_user_exception(&mut r)),
            ReplyStatus::SystemException => match SystemException::decode(&mut r) {
                Ok(ex) => Err(CallError::System(ex)),
                Err(e) => Err(CallError::Decode(e)),
            },
            ReplyStatus::LocationForward | ReplyStatus::LocationForwardPerm => {
                match Ior::decode_cdr(&mut r) {
                    Ok(ior) => Err(CallError::LocationForward(Box::new(ior))),
                    Err(e) => Err(CallError::Decode(e)),
                }
            }
            ReplyStatus::NeedsAddressingMode => Err(CallError::NeedsAddressingMode),
        }
    }
}

fn decode_user_exception(r: &mut CdrReader<'_>) -> CallError {
    let repo_id = match r.read_string() {
        Ok(id) => id,
        Err(e) => return CallError::Decode(e),
    };
    if repo_id == DevFailed::REPO_ID {
        match r.get::<DevFailed>() {
            Ok(df) => CallError::DevFailed(df),
            Err(e) => CallError::Decode(e),
        }
    } else if repo_id == MultiDevFailed::REPO_ID {
        match r.get::<MultiDevFailed>() {
            Ok(m) => CallError::MultiDevFailed(m),
            Err(e) => CallError::Decode(e),
        }
    } else {
        CallError::UnknownUserException(repo_id)
    }
}

/// Why a call that got a reply did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The device raised a Tango `DevFailed`.
    #[error("{0}")]
    DevFailed(DevFailed),
    /// A multi-attribute write failed (`MultiDevFailed`).
    #[error("{0}")]
    MultiDevFailed(MultiDevFailed),
    /// A user exception Tango does not define.
    #[error("unknown user exception {0}")]
    UnknownUserException(String),
    /// A CORBA system exception (unknown object or operation, marshalling...).
    #[error("{0}")]
    System(SystemException),
    /// The object lives elsewhere (`LOCATION_FORWARD`).
    #[error("object forwarded to {0}")]
    LocationForward(Box<Ior>),
    /// The server asked for another addressing mode (GIOP 1.2); we only send keys.
    #[error("server needs another GIOP addressing mode")]
    NeedsAddressingMode,
    /// The reply could not be decoded.
    #[error("reply could not be decoded: {0}")]
    Decode(DecodeError),
}

/// The connection can no longer be used: drop it and its socket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The byte stream is not GIOP we can read.
    #[error("GIOP protocol error: {0}")]
    Protocol(#[from] GiopError),
    /// The server sent `MessageError`: it could not read something we sent.
    #[error("server reported a GIOP MessageError")]
    MessageError,
    /// A reply to a request id we never sent.
    #[error("reply to unknown request id {0}")]
    UnexpectedReply(RequestId),
    /// A message a server never sends to a client.
    #[error("unexpected {0:?} message from server")]
    UnexpectedMessage(MsgType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    /// Someone wants the reply.
    Wanted,
    /// The caller gave up; drop the reply.
    Abandoned,
}

/// The client half of one GIOP connection.
#[derive(Debug)]
pub struct ClientConnection {
    version: Version,
    next_id: RequestId,
    outstanding: HashMap<RequestId, Waiting>,
    framer: FrameDecoder,
    sent_code_sets: bool,
}

impl ClientConnection {
    /// A new connection speaking `version` (1.0 for Tango's no-database mode, 1.2 for
    /// references from IORs).
    pub fn new(version: Version) -> Self {
        Self {
            version,
            // cppTango/omniORB start at 2 and step by 2; nothing depends on it, but
            // matching it keeps captures comparable.
            next_id: 2,
            outstanding: HashMap::new(),
            framer: FrameDecoder::new(),
            sent_code_sets: false,
        }
    }

    /// The GIOP version spoken.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Requests whose replies are still expected (abandoned ones included).
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Requests someone still waits for.
    pub fn wanted(&self) -> usize {
        self.outstanding
            .values()
            .filter(|w| **w == Waiting::Wanted)
            .count()
    }

    /// Encodes a call to `op` on the object `object_key`, and remembers its id.
    /// Returns the id and the complete message to write.
    pub fn encode_request<O: Operation>(
        &mut self,
        object_key: &[u8],
        op: &O,
    ) -> (RequestId, Vec<u8>) {
        self.encode_request_with(object_key, op, None)
    }

    /// [`ClientConnection::encode_request`] with one more service context after those
    /// the connection sends itself: the call chain of
    /// [`crate::server::call_chain`], when device code makes the call.
    pub fn encode_request_with<O: Operation>(
        &mut self,
        object_key: &[u8],
        op: &O,
        extra: Option<ServiceContext>,
    ) -> (RequestId, Vec<u8>) {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(2);
        // GIOP 1.2 negotiates code sets on the first request, as omniORB does; 1.0 has none.
        let mut service_contexts = if self.version.minor >= 2 && !self.sent_code_sets {
            self.sent_code_sets = true;
            vec![ServiceContext::code_sets_latin1_utf16()]
        } else {
            Vec::new()
        };
        service_contexts.extend(extra);
        let header = RequestHeader {
            request_id: id,
            response_expected: true,
            object_key: object_key.to_vec(),
            operation: op.name().to_owned(),
            service_contexts,
        };
        let bytes = giop::encode_request(self.version, &header, |w| op.encode_args(w));
        self.outstanding.insert(id, Waiting::Wanted);
        (id, bytes)
    }

    /// The caller no longer wants the reply to `id` (it timed out or was cancelled). The
    /// reply, if it comes, is dropped and the connection stays healthy.
    pub fn abandon(&mut self, id: RequestId) {
        if let Some(w) = self.outstanding.get_mut(&id) {
            *w = Waiting::Abandoned;
        }
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Bytes buffered but not yet forming a whole message.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// The next event, if a whole message has arrived.
    pub fn poll_event(&mut self) -> Result<Option<Event>, ConnectionError> {
        loop {
            let Some(msg) = self.framer.next_message()? else {
                return Ok(None);
            };
            match msg.header.msg_type {
                MsgType::Reply => {
                    let (header, body) = giop::decode_reply(&msg)?;
                    let body_offset = body.absolute_position();
                    match self.outstanding.remove(&header.request_id) {
                        Some(Waiting::Wanted) => {
                            return Ok(Some(Event::Reply(Reply {
                                request_id: header.request_id,
                                status: header.status,
                                message: msg,
                                body_offset,
                            })))
                        }
                        Some(Waiting::Abandoned) => continue, // a late reply: drop it
                        None => return Err(ConnectionError::UnexpectedReply(header.request_id)),
                    }
                }
                MsgType::CloseConnection => {
                    let mut unanswered: Vec<RequestId> = self
                        .outstanding
                        .drain()
                        .filter(|(_, w)| *w == Waiting::Wanted)
                        .map(|(id, _)| id)
                        .collect();
                    unanswered.sort_unstable();
                    return Ok(Some(Event::Closed { unanswered }));
                }
                MsgType::MessageError => return Err(ConnectionError::MessageError),
                other => return Err(ConnectionError::UnexpectedMessage(other)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::giop::ReplyHeader;
    use crate::idl::{DevError, DevState, ErrSeverity};
    use crate::ops::{GetState, Ping};

    fn reply_bytes(
        id: u32,
        status: ReplyStatus,
        body: impl FnOnce(&mut crate::cdr::CdrWriter),
    ) -> Vec<u8> {
        giop::encode_reply(
            Version::V1_0,
            &ReplyHeader {
                request_id: id,
                status,
                service_contexts: vec![],
            },
            body,
        )
    }

    #[test]
    fn replies_are_matched_by_id_in_any_order() {
        let mut c = ClientConnection::new(Version::V1_0);
        let (a, _) = c.encode_request(b"sys/tg_test/1", &GetState {});
        let (b, _) = c.encode_request(b"sys/tg_test/1", &Ping {});
        assert_eq!((a, b), (2, 4));
        let mut input = reply_bytes(b, ReplyStatus::NoException, |_| {});
        input.extend(reply_bytes(a, ReplyStatus::NoException, |w| {
            w.write_ulong(10)
        }));
        // feed byte by byte: framing must not care
        for byte in &input {
            c.handle_input(std::slice::from_ref(byte));
        }
        let Some(Event::Reply(r1)) = c.poll_event().unwrap() else {
            panic!()
        };
        assert_eq!(r1.request_id, b);
        r1.decode::<Ping>().unwrap();
        let Some(Event::Reply(r2)) = c.poll_event().unwrap() else {
            panic!()
        };
        assert_eq!(r2.decode::<GetState>().unwrap(), DevState::Running);
        assert!(c.poll_event().unwrap().is_none());
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn abandoned_replies_are_dropped() {
        let mut c = ClientConnection::new(Version::V1_0);
        let (a, _) = c.encode_request(b"k", &Ping {});
        let (b, _) = c.encode_request(b"k", &Ping {});
        c.abandon(a);
        c.handle_input(&reply_bytes(a, ReplyStatus::NoException, |_| {}));
        c.handle_input(&reply_bytes(b, ReplyStatus::NoException, |_| {}));
        let Some(Event::Reply(r)) = c.poll_event().unwrap() else {
            panic!()
        };
        assert_eq!(r.request_id, b);
        assert!(c.poll_event().unwrap().is_none());
    }

    #[test]
    fn unknown_reply_id_is_a_connection_error() {
        let mut c = ClientConnection::new(Version::V1_0);
        c.handle_input(&reply_bytes(42, ReplyStatus::NoException, |_| {}));
        assert_eq!(
            c.poll_event().unwrap_err(),
            ConnectionError::UnexpectedReply(42)
        );
    }

    #[test]
    fn dev_failed_and_system_exceptions_decode() {
        let mut c = ClientConnection::new(Version::V1_0);
        let (a, _) = c.encode_request(b"k", &Ping {});
        let (b, _) = c.encode_request(b"k", &Ping {});
        let df = DevFailed {
            errors: vec![DevError {
                reason: "API_CommandNotFound".into(),
                severity: ErrSeverity::Err,
                desc: "Command X not found".into(),
                origin: "here".into(),
            }],
        };
        c.handle_input(&reply_bytes(a, ReplyStatus::UserException, |w| {
            w.write_string(DevFailed::REPO_ID);
            w.put(&df.errors);
        }));
        let ex = SystemException::new("OBJECT_NOT_EXIST", 0x4f4d0001, giop::CompletionStatus::No);
        c.handle_input(&reply_bytes(b, ReplyStatus::SystemException, |w| {
            ex.encode(w)
        }));
        let Some(Event::Reply(r)) = c.poll_event().unwrap() else {
            panic!()
        };
        assert_eq!(r.decode::<Ping>().unwrap_err(), CallError::DevFailed(df));
        let Some(Event::Reply(r)) = c.poll_event().unwrap() else {
            panic!()
        };
        assert_eq!(r.decode::<Ping>().unwrap_err(), CallError::System(ex));
    }

    #[test]
    fn close_connection_lists_unanswered_requests() {
        let mut c = ClientConnection::new(Version::V1_0);
        let (a, _) = c.encode_request(b"k", &Ping {});
        let (b, _) = c.encode_request(b"k", &Ping {});
        c.abandon(b);
        c.handle_input(&giop::encode_close_connection(Version::V1_0));
        match c.poll_event().unwrap() {
            Some(Event::Closed { unanswered }) => assert_eq!(unanswered, vec![a]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn giop_1_2_sends_code_sets_once() {
        let mut c = ClientConnection::new(Version::V1_2);
        let (_, first) = c.encode_request(b"key", &Ping {});
        let (_, second) = c.encode_request(b"key", &Ping {});
        let m1 = giop::message_from_bytes(first).unwrap();
        let m2 = giop::message_from_bytes(second).unwrap();
        assert_eq!(
            giop::decode_request(&m1).unwrap().0.service_contexts.len(),
            1
        );
        assert!(giop::decode_request(&m2)
            .unwrap()
            .0
            .service_contexts
            .is_empty());
    }

    #[test]
    fn an_extra_context_follows_the_code_sets() {
        let chain = ServiceContext {
            id: 0x5452_5301,
            data: vec![1, 2, 3],
        };
        let mut c = ClientConnection::new(Version::V1_2);
        let (_, first) = c.encode_request_with(b"key", &Ping {}, Some(chain.clone()));
        let (_, second) = c.encode_request_with(b"key", &Ping {}, Some(chain.clone()));
        let (_, third) = c.encode_request(b"key", &Ping {});
        let contexts = |bytes: Vec<u8>| {
            let m = giop::message_from_bytes(bytes).unwrap();
            giop::decode_request(&m).unwrap().0.service_contexts
        };
        assert_eq!(
            contexts(first),
            vec![ServiceContext::code_sets_latin1_utf16(), chain.clone()]
        );
        assert_eq!(contexts(second), vec![chain]);
        assert!(contexts(third).is_empty());
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut c = ClientConnection::new(Version::V1_0);
        c.handle_input(b"POIG\x01\x00\x01\x01\x00\x00\x00\x00");
        assert!(matches!(
            c.poll_event(),
            Err(ConnectionError::Protocol(GiopError::BadMagic(_)))
        ));
    }
}
