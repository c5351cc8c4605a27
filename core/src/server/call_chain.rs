//! The call chain: which device code a request comes from, carried from server to server
//! as a GIOP service context, so that a Synchronous server can refuse at once a request
//! that would wait for a monitor lock held by the very code that waits for its reply.
//!
//! In Synchronous mode a device's code runs under the device's monitor lock. If that code
//! calls the same device through a client proxy (directly, or through other devices:
//! A → B → A, within one server or across servers), the nested request needs the lock
//! the caller holds while it waits: a deadlock that cppTango resolves only when its
//! monitor times out (3.2 s), after the client has already timed out (3 s).
//!
//! Here, while Synchronous device code runs, the adapter records the chain of the request
//! being served plus one [`Link`] for itself (the server's random instance nonce, the
//! device, and the activation: a number the server gives each acquisition of a monitor).
//! Our clients send that chain with every request the device code makes, as the service
//! context [`CALL_CHAIN_CONTEXT_ID`]. Before waiting for a device's monitor, the server
//! looks in the incoming chain for a link of its own to that device whose activation
//! still holds the monitor: if there is one, waiting could only end in the timeout, and
//! the request is answered at once.
//!
//! The context is ours: other ORBs (omniORB in cppTango and PyTango, JacORB in JTango)
//! ignore service contexts they do not know, as CORBA requires.
//!
//! Wire format (an encapsulation, like every standard context):
//! `octet byte_order; octet format (1); sequence<struct { unsigned long long server;
//! unsigned long long activation; unsigned long device; }> links`, oldest first.

use crate::cdr::{CdrReader, CdrWriter, DecodeError, DecodeResult};
use crate::giop::{self, GiopError, Message, ServiceContext};

/// The service context id of the call chain: `0x54525301`, vendor service context id
/// (VSCID) `0x545253` ("TRS", for Tango in Rust; not registered with the OMG) and
/// context 1. Standard contexts use small numbers and registered vendors their own
/// VSCID (omniORB `0x41545400`), so it collides with none we know of.
pub const CALL_CHAIN_CONTEXT_ID: u32 = 0x5452_5301;

/// The format version written after the byte-order octet.
const FORMAT: u8 = 1;

/// Most links a chain holds: a chain that grows past it drops its oldest links (a call
/// nesting that deep through device code is already a bug of its own); a context with
/// more is refused by [`CallChain::decode`].
pub const MAX_LINKS: usize = 32;

/// Fewest bytes of one encoded link (8 + 8 + 4; the padding before the next is extra).
const LINK_MIN_SIZE: usize = 20;

/// One step of a chain: device code of `device` running on the server instance `server`
/// under the monitor acquisition `activation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link {
    /// The server instance's random nonce (new at every server start).
    pub server: u64,
    /// The server's number for this acquisition of the device's monitor (never 0).
    pub activation: u64,
    /// The device's index in its server (`DeviceId.0`).
    pub device: u32,
}

/// The device code a request comes from, oldest caller first. Empty for a request that
/// no device code of ours made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallChain {
    links: Vec<Link>,
}

impl CallChain {
    /// An empty chain.
    pub const fn new() -> Self {
        CallChain { links: Vec::new() }
    }

    /// True when no device code of ours made the request.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The links, oldest caller first.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Appends `link` (the code now running); past [`MAX_LINKS`] the oldest link goes.
    pub fn push(&mut self, link: Link) {
        if self.links.len() >= MAX_LINKS {
            self.links.remove(0);
        }
        self.links.push(link);
    }

    /// The activations of `device` on the server `server` that the request comes from.
    pub fn activations_of(&self, server: u64, device: u32) -> impl Iterator<Item = u64> + '_ {
        self.links
            .iter()
            .filter(move |l| l.server == server && l.device == device)
            .map(|l| l.activation)
    }

    /// The chain as the service context our clients attach to a request.
    pub fn to_service_context(&self) -> ServiceContext {
        let mut w = CdrWriter::with_capacity(16 + 24 * self.links.len());
        w.write_encapsulation(|w| {
            w.write_octet(FORMAT);
            w.write_len(self.links.len());
            for l in &self.links {
                w.write_ulonglong(l.server);
                w.write_ulonglong(l.activation);
                w.write_ulong(l.device);
            }
        });
        // the context data is the encapsulation itself, without its length prefix
        let mut data = w.into_bytes();
        data.drain(..4);
        ServiceContext {
            id: CALL_CHAIN_CONTEXT_ID,
            data,
        }
    }

    /// Decodes the data of a [`CALL_CHAIN_CONTEXT_ID`] context. Anything else than what
    /// [`CallChain::to_service_context`] writes (another format version, more than
    /// [`MAX_LINKS`] links, trailing or missing bytes) is an error saying what.
    pub fn decode(data: &[u8]) -> DecodeResult<CallChain> {
        let Some(&order) = data.first() else {
            return Err(DecodeError::Malformed {
                what: "call chain context",
                offset: 0,
                detail: "empty (no byte-order octet)".to_owned(),
            });
        };
        let mut r = CdrReader::new(data, crate::cdr::ByteOrder::from_flag(order));
        r.take(1, "byte order")?;
        let format = r.read_octet()?;
        if format != FORMAT {
            return Err(r.invalid("call chain format", u64::from(format)));
        }
        let n = r.read_len(LINK_MIN_SIZE, "call chain links")?;
        if n > MAX_LINKS {
            return Err(r.malformed(
                "call chain links",
                format!("{n} links, at most {MAX_LINKS} allowed"),
            ));
        }
        let mut links = Vec::with_capacity(n);
        for _ in 0..n {
            let server = r.read_ulonglong()?;
            let activation = r.read_ulonglong()?;
            let device = r.read_ulong()?;
            links.push(Link {
                server,
                activation,
                device,
            });
        }
        r.expect_end("call chain context")?;
        Ok(CallChain { links })
    }

    /// The chain a request carries: empty when it has no [`CALL_CHAIN_CONTEXT_ID`]
    /// context, an error when the message or the context cannot be read.
    pub fn from_request(msg: &Message) -> Result<CallChain, GiopError> {
        match giop::find_request_context(msg, CALL_CHAIN_CONTEXT_ID)? {
            None => Ok(CallChain::new()),
            Some(data) => Ok(CallChain::decode(&data)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::giop::{decode_request, encode_request, message_from_bytes, RequestHeader, Version};

    fn link(i: u64) -> Link {
        Link {
            server: 0x0123_4567_89ab_cdef ^ i,
            activation: 1000 + i,
            device: i as u32,
        }
    }

    fn chain(n: u64) -> CallChain {
        let mut c = CallChain::new();
        for i in 0..n {
            c.push(link(i));
        }
        c
    }

    fn request(version: Version, contexts: Vec<ServiceContext>) -> Message {
        let header = RequestHeader {
            request_id: 4,
            response_expected: true,
            object_key: b"test/loop/a".to_vec(),
            operation: "command_inout_4".to_owned(),
            service_contexts: contexts,
        };
        message_from_bytes(encode_request(version, &header, |w| w.write_string("x"))).unwrap()
    }

    #[test]
    fn round_trips_through_a_request_of_every_giop_version() {
        let c = chain(3);
        for v in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let msg = request(
                v,
                vec![
                    ServiceContext::code_sets_latin1_utf16(),
                    c.to_service_context(),
                ],
            );
            assert_eq!(CallChain::from_request(&msg).unwrap(), c, "GIOP {v}");
            // the request itself still decodes, its argument where it was
            let (h, mut r) = decode_request(&msg).unwrap();
            assert_eq!(h.service_contexts.len(), 2);
            assert_eq!(r.read_string().unwrap(), "x");
        }
    }

    #[test]
    fn a_request_without_the_context_has_an_empty_chain() {
        for v in [Version::V1_0, Version::V1_2] {
            let msg = request(v, vec![ServiceContext::code_sets_latin1_utf16()]);
            assert!(CallChain::from_request(&msg).unwrap().is_empty());
            assert!(CallChain::from_request(&request(v, vec![]))
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn the_encoding_is_an_encapsulation_with_aligned_links() {
        let ctx = chain(1).to_service_context();
        assert_eq!(ctx.id, 0x5452_5301);
        // byte order, format, 2 pad, count, server, activation, device
        assert_eq!(ctx.data.len(), 1 + 1 + 2 + 4 + 8 + 8 + 4);
        assert_eq!(&ctx.data[..8], &[1, 1, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&ctx.data[8..16], &link(0).server.to_le_bytes());
        assert_eq!(&ctx.data[16..24], &1000u64.to_le_bytes());
        assert_eq!(&ctx.data[24..28], &0u32.to_le_bytes());
        // the next link starts 8-aligned
        assert_eq!(chain(2).to_service_context().data.len(), 28 + 4 + 20);
    }

    #[test]
    fn big_endian_contexts_decode() {
        let l = link(7);
        let mut data = vec![0, 1, 0, 0, 0, 0, 0, 1];
        data.extend(l.server.to_be_bytes());
        data.extend(l.activation.to_be_bytes());
        data.extend(l.device.to_be_bytes());
        assert_eq!(CallChain::decode(&data).unwrap().links(), &[l]);
    }

    #[test]
    fn pushing_past_the_limit_drops_the_oldest() {
        let c = chain(MAX_LINKS as u64 + 2);
        assert_eq!(c.links().len(), MAX_LINKS);
        assert_eq!(c.links()[0], link(2));
        assert_eq!(CallChain::decode(&c.to_service_context().data).unwrap(), c);
    }

    #[test]
    fn activations_of_a_device_are_found() {
        let mut c = chain(3);
        c.push(Link {
            activation: 77,
            ..link(1)
        });
        let found: Vec<u64> = c.activations_of(link(1).server, 1).collect();
        assert_eq!(found, vec![1001, 77]);
        assert_eq!(c.activations_of(link(1).server, 2).count(), 0);
        assert_eq!(c.activations_of(42, 1).count(), 0);
    }

    #[test]
    fn bad_contexts_are_typed_errors() {
        let good = chain(2).to_service_context().data;
        assert!(matches!(
            CallChain::decode(&[]),
            Err(DecodeError::Malformed { .. })
        ));
        // another format version
        let mut other = good.clone();
        other[1] = 2;
        assert!(matches!(
            CallChain::decode(&other),
            Err(DecodeError::InvalidValue { value: 2, .. })
        ));
        // every truncation
        for n in 1..good.len() {
            assert!(CallChain::decode(&good[..n]).is_err(), "{n} bytes");
        }
        // trailing bytes
        let mut long = good.clone();
        long.extend([0; 8]);
        assert!(CallChain::decode(&long).is_err());
        // too many links, even when the bytes are there
        let mut many = vec![1, 1, 0, 0];
        many.extend(((MAX_LINKS + 1) as u32).to_le_bytes());
        many.extend(vec![0; 24 * (MAX_LINKS + 1)]);
        assert!(matches!(
            CallChain::decode(&many),
            Err(DecodeError::Malformed { .. })
        ));
        // a count larger than the bytes is refused before allocating
        let mut huge = vec![1, 1, 0, 0];
        huge.extend(u32::MAX.to_le_bytes());
        assert!(CallChain::decode(&huge).is_err());
    }

    #[test]
    fn a_bad_context_in_a_request_is_an_error_not_a_panic() {
        let msg = request(
            Version::V1_0,
            vec![ServiceContext {
                id: CALL_CHAIN_CONTEXT_ID,
                data: vec![1, 9],
            }],
        );
        assert!(matches!(
            CallChain::from_request(&msg),
            Err(GiopError::Decode(_))
        ));
    }
}
