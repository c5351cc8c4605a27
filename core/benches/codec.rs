//! Codec benchmarks of tango-core, both sides of each message: what a client encodes and
//! decodes, what a server decodes and encodes, the CORBA `any` path of commands, GIOP
//! framing, the server dispatcher with a device, and a client round trip through
//! [`ClientConnection`]. No I/O anywhere.
//!
//! `cargo bench -p tango-core` runs them (about a minute); `cargo test -p tango-core
//! --benches` runs each once as a smoke test. Groups:
//!
//! * `read_attributes_5/request`: the request for `double_scalar`, encoded (client) and
//!   decoded (server: request header, then the arguments);
//! * `read_attributes_5/{scalar,spectrum_4096,spectrum_1M}`: the reply for one double
//!   attribute, encoded (server) and decoded (client). `spectrum_1M` (8 MB of doubles)
//!   has two baselines: `memcpy` (a copy into an existing buffer) and `to_vec` (a fresh
//!   allocation plus the copy, which is what a decoder that returns a new `Vec` must do
//!   at least);
//! * `command_inout_4/DevVarDoubleArray_1024`: request and reply, each encoded and decoded;
//! * `any/<type>`: a CORBA `any` (TypeCode, then value) encoded and decoded for the
//!   command types DevDouble, DevString, DevVarDoubleArray (1024) and
//!   DevVarLongStringArray, and the TypeCode alone of the last one;
//! * `giop/frame_decoder`: [`FrameDecoder`] on 64 read replies in one chunk and in 64-byte
//!   chunks, and a 32 KB GIOP 1.2 reply reassembled from 1 KB fragments (against the same
//!   message unfragmented);
//! * `server/dispatch`: a request message in, reply bytes out, through the
//!   [`Dispatcher`] and a synchronous device (what every server green mode runs per call);
//! * `client/read_attributes_5_round_trip`: encode a request and decode its reply through
//!   the client state machine.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use tango_core::any::{CommandData, TypeCode};
use tango_core::cdr::{ByteOrder, CdrEncode, CdrReader, CdrWriter};
use tango_core::client::{ClientConnection, Event};
use tango_core::device::{Attr, ClassBuilder, Cmd, DeviceCtx, Outcome, SyncDevice};
use tango_core::giop::{
    decode_reply, decode_request, encode_reply, encode_request, message_from_bytes, FrameDecoder,
    Message, MsgType, ReplyHeader, ReplyStatus, RequestHeader, Version, HEADER_LEN,
};
use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttributeDim, AttributeValue5, ClntIdent,
    CmdArgType, DevFailed, DevSource, TimeVal,
};
use tango_core::ops::{CommandInout4, Operation, OperationArgs, ReadAttributes5};
use tango_core::server::{Dispatcher, ServerConfig, Step};

/// The object key of `sys/tg_test/1` in no-database mode.
const KEY: &[u8] = b"sys/tg_test/1";

fn read_op(name: &str) -> ReadAttributes5 {
    ReadAttributes5 {
        names: vec![name.to_owned()],
        source: DevSource::CacheDev,
        ident: ClntIdent::Cpp(4242),
    }
}

fn double_array_op(n: usize) -> CommandInout4 {
    CommandInout4 {
        command: "DevVarDoubleArray".to_owned(),
        argin: CommandData::DoubleArray(spectrum(n)),
        source: DevSource::CacheDev,
        ident: ClntIdent::Cpp(4242),
    }
}

fn request_header(op: &impl Operation, request_id: u32) -> RequestHeader {
    RequestHeader {
        request_id,
        response_expected: true,
        object_key: KEY.to_vec(),
        operation: op.name().to_owned(),
        service_contexts: Vec::new(),
    }
}

/// The whole request message for `op`, as a client sends it (GIOP `version`).
fn request_bytes(version: Version, op: &impl Operation, request_id: u32) -> Vec<u8> {
    encode_request(version, &request_header(op, request_id), |w| {
        op.encode_args(w)
    })
}

fn reply_header(request_id: u32) -> ReplyHeader {
    ReplyHeader {
        request_id,
        status: ReplyStatus::NoException,
        service_contexts: Vec::new(),
    }
}

/// A NO_EXCEPTION reply (GIOP `version`) whose body `body` writes.
fn reply_bytes(version: Version, request_id: u32, body: impl FnOnce(&mut CdrWriter)) -> Vec<u8> {
    encode_reply(version, &reply_header(request_id), body)
}

/// The result of `read_attributes_5` for one double attribute holding `value`.
fn read_result(name: &str, value: Vec<f64>, format: AttrDataFormat) -> Vec<AttributeValue5> {
    let n = value.len() as i32;
    let (r_dim, w_dim) = match format {
        AttrDataFormat::Scalar => (AttributeDim::new(1, 0), AttributeDim::new(1, 0)),
        _ => (AttributeDim::new(n, 0), AttributeDim::new(0, 0)),
    };
    vec![AttributeValue5 {
        value: AttrValUnion::Double(value),
        quality: AttrQuality::Valid,
        data_format: format,
        data_type: CmdArgType::DevDouble.code(),
        time: TimeVal::from_secs_f64(1_700_000_000.25),
        name: name.to_owned(),
        r_dim,
        w_dim,
        err_list: Vec::new(),
    }]
}

/// The GIOP 1.0 reply message to `read_attributes_5` carrying `result`.
fn read_reply(request_id: u32, result: &[AttributeValue5]) -> Message {
    message_from_bytes(reply_bytes(Version::V1_0, request_id, |w| result.encode(w)))
        .expect("valid reply")
}

/// Decodes a reply message the way a client does: reply header, then the result.
fn decode<O: Operation>(msg: &Message) -> O::Output {
    let (header, mut r) = decode_reply(msg).expect("reply header");
    assert_eq!(header.status, ReplyStatus::NoException);
    O::decode_result(&mut r).expect("reply body")
}

/// Decodes a request message the way a server does: request header, then the arguments.
fn decode_args<A: OperationArgs>(msg: &Message) -> (RequestHeader, A) {
    let (header, mut r) = decode_request(msg).expect("request header");
    let args = A::decode_args(&mut r).expect("request arguments");
    (header, args)
}

fn spectrum(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 0.5).collect()
}

fn read_attributes_request(c: &mut Criterion) {
    let op = read_op("double_scalar");
    let header = request_header(&op, 2);
    let msg = message_from_bytes(request_bytes(Version::V1_0, &op, 2)).expect("valid request");
    assert_eq!(decode_args::<ReadAttributes5>(&msg).1, op);
    let mut g = c.benchmark_group("read_attributes_5/request");
    g.bench_function("encode", |b| {
        b.iter(|| encode_request(Version::V1_0, black_box(&header), |w| op.encode_args(w)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| decode_args::<ReadAttributes5>(black_box(&msg)))
    });
    g.finish();
}

/// Server-side encode and client-side decode of one `read_attributes_5` reply.
fn read_reply_pair(c: &mut Criterion, group: &str, result: Vec<AttributeValue5>, n: usize) {
    let msg = read_reply(2, &result);
    assert_eq!(decode::<ReadAttributes5>(&msg), result);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes((n * 8) as u64));
    g.bench_function("encode_reply", |b| {
        b.iter(|| {
            encode_reply(Version::V1_0, black_box(&reply_header(2)), |w| {
                black_box(&result).encode(w)
            })
        })
    });
    g.bench_function("decode_reply", |b| {
        b.iter(|| decode::<ReadAttributes5>(black_box(&msg)))
    });
    g.finish();
}

fn read_attributes_reply(c: &mut Criterion) {
    let scalar = read_result("double_scalar", vec![40.047, 0.0], AttrDataFormat::Scalar);
    read_reply_pair(c, "read_attributes_5/scalar", scalar, 1);
    let wave = read_result("double_spectrum", spectrum(4096), AttrDataFormat::Spectrum);
    read_reply_pair(c, "read_attributes_5/spectrum_4096", wave, 4096);
}

fn big_spectrum(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let src = spectrum(N);
    let result = read_result("double_spectrum", src.clone(), AttrDataFormat::Spectrum);
    let msg = read_reply(2, &result);
    assert_eq!(decode::<ReadAttributes5>(&msg), result);
    let mut g = c.benchmark_group("read_attributes_5/spectrum_1M");
    g.throughput(Throughput::Bytes((N * 8) as u64));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("encode_reply", "8MB"), |b| {
        b.iter(|| {
            encode_reply(Version::V1_0, black_box(&reply_header(2)), |w| {
                black_box(&result).encode(w)
            })
        })
    });
    g.bench_function(BenchmarkId::new("decode_reply", "8MB"), |b| {
        b.iter(|| decode::<ReadAttributes5>(black_box(&msg)))
    });
    let mut dst = vec![0.0f64; N];
    g.bench_function(BenchmarkId::new("memcpy", "8MB"), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.bench_function(BenchmarkId::new("to_vec", "8MB"), |b| {
        b.iter(|| black_box(&src).to_vec())
    });
    g.finish();
}

fn command_inout(c: &mut Criterion) {
    const N: usize = 1024;
    let op = double_array_op(N);
    let header = request_header(&op, 2);
    let request = message_from_bytes(request_bytes(Version::V1_0, &op, 2)).expect("request");
    assert_eq!(decode_args::<CommandInout4>(&request).1, op);
    let result = CommandData::DoubleArray(spectrum(N));
    let reply = message_from_bytes(reply_bytes(Version::V1_0, 2, |w| result.encode(w)))
        .expect("valid reply");
    assert_eq!(decode::<CommandInout4>(&reply), result);
    let mut g = c.benchmark_group("command_inout_4/DevVarDoubleArray_1024");
    g.throughput(Throughput::Bytes((N * 8) as u64));
    g.bench_function("encode_request", |b| {
        b.iter(|| encode_request(Version::V1_0, black_box(&header), |w| op.encode_args(w)))
    });
    g.bench_function("decode_request", |b| {
        b.iter(|| decode_args::<CommandInout4>(black_box(&request)))
    });
    g.bench_function("encode_reply", |b| {
        b.iter(|| {
            encode_reply(Version::V1_0, black_box(&reply_header(2)), |w| {
                black_box(&result).encode(w)
            })
        })
    });
    g.bench_function("decode_reply", |b| {
        b.iter(|| decode::<CommandInout4>(black_box(&reply)))
    });
    g.finish();
}

fn any_path(c: &mut Criterion) {
    let strings = |n: usize| (0..n).map(|i| format!("string number {i}")).collect();
    let values = [
        ("DevDouble", CommandData::Double(3.25)),
        (
            "DevString",
            CommandData::String("the quick brown fox jumps over the lazy dog".to_owned()),
        ),
        (
            "DevVarDoubleArray_1024",
            CommandData::DoubleArray(spectrum(1024)),
        ),
        (
            "DevVarLongStringArray_16",
            CommandData::LongStringArray((0..16).collect(), strings(16)),
        ),
    ];
    for (label, value) in &values {
        let mut w = CdrWriter::new();
        value.encode_any(&mut w);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert_eq!(&CommandData::decode_any(&mut r).expect("any"), value);
        let mut g = c.benchmark_group(format!("any/{label}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("encode", |b| {
            b.iter(|| {
                let mut w = CdrWriter::with_capacity(bytes.len());
                black_box(value).encode_any(&mut w);
                w.into_bytes()
            })
        });
        g.bench_function("decode", |b| {
            b.iter(|| {
                let mut r = CdrReader::new(black_box(&bytes), ByteOrder::Little);
                CommandData::decode_any(&mut r).expect("any")
            })
        });
        g.finish();
    }
    // The TypeCode alone of the most complex command type (a struct of two aliased
    // sequences): what every `any` of that type carries before its value.
    let tc = values[3].1.type_code();
    let mut w = CdrWriter::new();
    tc.encode(&mut w);
    let bytes = w.into_bytes();
    let mut g = c.benchmark_group("any/typecode_DevVarLongStringArray");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("build_and_encode", |b| {
        b.iter(|| {
            let mut w = CdrWriter::with_capacity(bytes.len());
            black_box(&values[3].1).type_code().encode(&mut w);
            w.into_bytes()
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut r = CdrReader::new(black_box(&bytes), ByteOrder::Little);
            TypeCode::decode(&mut r).expect("TypeCode")
        })
    });
    g.finish();
}

/// Splits a whole GIOP 1.2 message into a first part announcing more fragments and
/// `Fragment` messages carrying at most `chunk` bytes of body each (a multiple of 8, as
/// GIOP 1.2 wants for all but the last fragment).
fn fragment_12(msg: &[u8], chunk: usize) -> Vec<u8> {
    assert_eq!(msg[4..6], [1, 2], "a GIOP 1.2 message");
    assert_eq!(chunk % 8, 0);
    let request_id: [u8; 4] = msg[HEADER_LEN..HEADER_LEN + 4].try_into().expect("id");
    let body = &msg[HEADER_LEN..];
    let header = |flags: u8, msg_type: u8, len: usize| {
        let mut h = b"GIOP\x01\x02".to_vec();
        h.push(flags);
        h.push(msg_type);
        h.extend_from_slice(&(len as u32).to_le_bytes());
        h
    };
    let mut out = Vec::with_capacity(msg.len() * 2);
    let pieces: Vec<&[u8]> = body.chunks(chunk).collect();
    for (i, piece) in pieces.iter().enumerate() {
        // little-endian (bit 0), more fragments follow (bit 1) on all but the last
        let flags = if i + 1 < pieces.len() { 0b11 } else { 0b01 };
        if i == 0 {
            out.extend(header(flags, msg[7], piece.len()));
        } else {
            out.extend(header(flags, u8::from(MsgType::Fragment), piece.len() + 4));
            out.extend_from_slice(&request_id);
        }
        out.extend_from_slice(piece);
    }
    out
}

/// Pushes `bytes` in `chunk`-byte pieces, pulling every message after each push; returns
/// how many messages came out.
fn frame_all(bytes: &[u8], chunk: usize) -> usize {
    let mut f = FrameDecoder::new();
    let mut n = 0;
    for piece in bytes.chunks(chunk) {
        f.push(piece);
        while let Some(m) = f.next_message().expect("well-framed") {
            black_box(&m);
            n += 1;
        }
    }
    assert_eq!(f.buffered(), 0);
    n
}

fn giop_framing(c: &mut Criterion) {
    const MESSAGES: usize = 64;
    let result = read_result("double_scalar", vec![40.047, 0.0], AttrDataFormat::Scalar);
    let stream: Vec<u8> = (0..MESSAGES as u32)
        .flat_map(|id| reply_bytes(Version::V1_0, id, |w| result.encode(w)))
        .collect();
    assert_eq!(frame_all(&stream, stream.len()), MESSAGES);
    assert_eq!(frame_all(&stream, 64), MESSAGES);
    let mut g = c.benchmark_group("giop/frame_decoder");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("64_replies_one_chunk", |b| {
        b.iter(|| frame_all(black_box(&stream), stream.len()))
    });
    g.bench_function("64_replies_64B_chunks", |b| {
        b.iter(|| frame_all(black_box(&stream), 64))
    });
    g.finish();

    let wave = read_result("double_spectrum", spectrum(4096), AttrDataFormat::Spectrum);
    let whole = reply_bytes(Version::V1_2, 7, |w| wave.encode(w));
    let fragmented = fragment_12(&whole, 1024);
    let mut f = FrameDecoder::new();
    f.push(&fragmented);
    let reassembled = f.next_message().expect("reassembly").expect("a message");
    assert_eq!(
        reassembled.bytes, whole,
        "reassembly gives back the message"
    );
    let mut g = c.benchmark_group("giop/fragments_32KB_reply");
    g.throughput(Throughput::Bytes(whole.len() as u64));
    g.bench_function("unfragmented", |b| {
        b.iter(|| frame_all(black_box(&whole), whole.len()))
    });
    g.bench_function("reassembled_from_1KB_fragments", |b| {
        b.iter(|| frame_all(black_box(&fragmented), fragmented.len()))
    });
    g.finish();
}

/// A server with one synchronous device `sys/tg_test/1`, driven as an adapter drives the
/// [`Dispatcher`]: handle the message, run the job's calls on the device, finish.
struct Server {
    d: Dispatcher,
    dev: Box<dyn SyncDevice>,
    ctx: DeviceCtx,
}

const NOW: TimeVal = TimeVal {
    tv_sec: 1_700_000_000,
    tv_usec: 0,
    tv_nsec: 0,
};

impl Server {
    fn new() -> Self {
        struct Dev {
            wave: Vec<f64>,
        }
        let class = ClassBuilder::new("TangoTest", |_| Dev {
            wave: spectrum(4096),
        })
        .attr(Attr::new::<f64>("double_scalar").read(|_: &mut Dev, _| Ok(40.047)))
        .attr(
            Attr::new::<Vec<f64>>("double_spectrum")
                .max_dim_x(4096)
                .read(|d: &mut Dev, _| Ok(d.wave.clone())),
        )
        .command(Cmd::new(
            "DevVarDoubleArray",
            |_: &mut Dev, _, v: Vec<f64>| Ok::<_, DevFailed>(v),
        ))
        .build();
        let d = Dispatcher::new(ServerConfig::new("TangoTest", "test"));
        let (_, ctx) = d.add_device(&class, "sys/tg_test/1").expect("device added");
        let mut dev = class.new_device(&ctx);
        dev.init_device(&ctx).expect("init_device");
        Server { d, dev, ctx }
    }

    /// One request in, the reply bytes out.
    fn call(&mut self, msg: &Message) -> Vec<u8> {
        let step = match self.d.handle(msg, "127.0.0.1:40000", NOW) {
            Step::Run(job) => {
                let outcomes = job
                    .calls
                    .iter()
                    .cloned()
                    .map(|c| Outcome::run_sync(self.dev.as_mut(), &self.ctx, c))
                    .collect();
                self.d.finish(job, outcomes, NOW)
            }
            other => other,
        };
        match step {
            Step::Reply(bytes) => bytes,
            other => panic!("no reply: {other:?}"),
        }
    }
}

fn server_dispatch(c: &mut Criterion) {
    let mut server = Server::new();
    let cases = [
        (
            "read_attributes_5_scalar",
            request_bytes(Version::V1_0, &read_op("double_scalar"), 2),
        ),
        (
            "read_attributes_5_spectrum_4096",
            request_bytes(Version::V1_0, &read_op("double_spectrum"), 2),
        ),
        (
            "command_inout_4_DevVarDoubleArray_1024",
            request_bytes(Version::V1_0, &double_array_op(1024), 2),
        ),
    ];
    let mut g = c.benchmark_group("server/dispatch");
    for (label, bytes) in cases {
        let msg = message_from_bytes(bytes).expect("valid request");
        let reply = message_from_bytes(server.call(&msg)).expect("valid reply");
        let (header, _) = decode_reply(&reply).expect("reply header");
        assert_eq!(header.status, ReplyStatus::NoException, "{label}");
        g.bench_function(label, |b| b.iter(|| server.call(black_box(&msg))));
    }
    g.finish();
}

/// Offset of the request id in a GIOP 1.0 reply: 12-byte header, empty service-context
/// list (4 bytes), then the id.
const REPLY_ID_OFFSET: usize = 16;

fn client_round_trip(c: &mut Criterion) {
    let op = read_op("double_scalar");
    let result = read_result("double_scalar", vec![40.047, 0.0], AttrDataFormat::Scalar);
    let mut reply = read_reply(0, &result).bytes;
    let mut conn = ClientConnection::new(Version::V1_0);
    c.bench_function("client/read_attributes_5_round_trip", |b| {
        b.iter(|| {
            let (id, request) = conn.encode_request(KEY, black_box(&op));
            black_box(&request);
            reply[REPLY_ID_OFFSET..REPLY_ID_OFFSET + 4].copy_from_slice(&id.to_le_bytes());
            conn.handle_input(black_box(&reply));
            let Ok(Some(Event::Reply(r))) = conn.poll_event() else {
                panic!("no reply event");
            };
            r.decode::<ReadAttributes5>().expect("decoded reply")
        })
    });
}

fn config() -> Criterion {
    Criterion::default()
        .without_plots()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .nresamples(10_000)
}

fn main() {
    let mut c = config().configure_from_args();
    read_attributes_request(&mut c);
    read_attributes_reply(&mut c);
    big_spectrum(&mut c);
    command_inout(&mut c);
    any_path(&mut c);
    giop_framing(&mut c);
    server_dispatch(&mut c);
    client_round_trip(&mut c);
    c.final_summary();
}
