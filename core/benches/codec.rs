//! Codec benchmarks of tango-core: encoding requests and decoding replies of the
//! operations a Tango client calls most, and a full client round trip through
//! [`ClientConnection`] without I/O.
//!
//! `cargo bench -p tango-core` runs them (about 30 s); `cargo test -p tango-core --benches`
//! runs each once as a smoke test. The `spectrum_1M` group has a `memcpy` baseline of the
//! same 8 MB, so decode cost shows as a ratio to a plain copy.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use tango_core::any::CommandData;
use tango_core::cdr::{CdrEncode, CdrWriter};
use tango_core::client::{ClientConnection, Event};
use tango_core::giop::{
    decode_reply, encode_reply, encode_request, message_from_bytes, Message, ReplyHeader,
    ReplyStatus, RequestHeader, Version,
};
use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttributeDim, AttributeValue5, ClntIdent,
    CmdArgType, DevSource, TimeVal,
};
use tango_core::ops::{CommandInout4, Operation, ReadAttributes5};

/// The object key of `sys/tg_test/1` in no-database mode.
const KEY: &[u8] = b"sys/tg_test/1";

fn read_op(name: &str) -> ReadAttributes5 {
    ReadAttributes5 {
        names: vec![name.to_owned()],
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

/// A NO_EXCEPTION GIOP 1.0 reply whose body `body` writes.
fn reply_bytes(request_id: u32, body: impl FnOnce(&mut CdrWriter)) -> Vec<u8> {
    let header = ReplyHeader {
        request_id,
        status: ReplyStatus::NoException,
        service_contexts: Vec::new(),
    };
    encode_reply(Version::V1_0, &header, body)
}

/// The reply to `read_attributes_5` for one double attribute holding `value`.
fn read_reply(request_id: u32, name: &str, value: Vec<f64>, format: AttrDataFormat) -> Message {
    let n = value.len() as i32;
    let (r_dim, w_dim) = match format {
        AttrDataFormat::Scalar => (AttributeDim::new(1, 0), AttributeDim::new(1, 0)),
        _ => (AttributeDim::new(n, 0), AttributeDim::new(0, 0)),
    };
    let av = AttributeValue5 {
        value: AttrValUnion::Double(value),
        quality: AttrQuality::Valid,
        data_format: format,
        data_type: CmdArgType::DevDouble.code(),
        time: TimeVal::from_secs_f64(1_700_000_000.25),
        name: name.to_owned(),
        r_dim,
        w_dim,
        err_list: Vec::new(),
    };
    message_from_bytes(reply_bytes(request_id, |w| vec![av].encode(w))).expect("valid reply")
}

/// Decodes a reply message the way a client does: reply header, then the result.
fn decode<O: Operation>(msg: &Message) -> O::Output {
    let (header, mut r) = decode_reply(msg).expect("reply header");
    assert_eq!(header.status, ReplyStatus::NoException);
    O::decode_result(&mut r).expect("reply body")
}

fn spectrum(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 0.5).collect()
}

fn read_attributes(c: &mut Criterion) {
    let op = read_op("double_scalar");
    let header = request_header(&op, 2);
    c.bench_function("read_attributes_5/encode_request", |b| {
        b.iter(|| encode_request(Version::V1_0, black_box(&header), |w| op.encode_args(w)))
    });

    let scalar = read_reply(
        2,
        "double_scalar",
        vec![40.047, 0.0],
        AttrDataFormat::Scalar,
    );
    c.bench_function("read_attributes_5/decode_reply_scalar", |b| {
        b.iter(|| decode::<ReadAttributes5>(black_box(&scalar)))
    });

    let wave = read_reply(
        2,
        "double_spectrum",
        spectrum(4096),
        AttrDataFormat::Spectrum,
    );
    let mut g = c.benchmark_group("read_attributes_5/spectrum_4096");
    g.throughput(Throughput::Bytes(4096 * 8));
    g.bench_function("decode_reply", |b| {
        b.iter(|| decode::<ReadAttributes5>(black_box(&wave)))
    });
    g.finish();
}

fn big_spectrum(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let src = spectrum(N);
    let msg = read_reply(2, "double_spectrum", src.clone(), AttrDataFormat::Spectrum);
    let mut g = c.benchmark_group("read_attributes_5/spectrum_1M");
    g.throughput(Throughput::Bytes((N * 8) as u64));
    g.sample_size(10);
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
    g.finish();
}

fn command_inout(c: &mut Criterion) {
    const N: usize = 1024;
    let op = CommandInout4 {
        command: "DevVarDoubleArray".to_owned(),
        argin: CommandData::DoubleArray(spectrum(N)),
        source: DevSource::CacheDev,
        ident: ClntIdent::Cpp(4242),
    };
    let header = request_header(&op, 2);
    let reply = message_from_bytes(reply_bytes(2, |w| {
        CommandData::DoubleArray(spectrum(N)).encode(w)
    }))
    .expect("valid reply");
    let mut g = c.benchmark_group("command_inout_4/DevVarDoubleArray_1024");
    g.throughput(Throughput::Bytes((N * 8) as u64));
    g.bench_function("encode_request", |b| {
        b.iter(|| encode_request(Version::V1_0, black_box(&header), |w| op.encode_args(w)))
    });
    g.bench_function("decode_reply", |b| {
        b.iter(|| decode::<CommandInout4>(black_box(&reply)))
    });
    g.finish();
}

/// Offset of the request id in a GIOP 1.0 reply: 12-byte header, empty service-context
/// list (4 bytes), then the id.
const REPLY_ID_OFFSET: usize = 16;

fn client_round_trip(c: &mut Criterion) {
    let op = read_op("double_scalar");
    let mut reply = read_reply(
        0,
        "double_scalar",
        vec![40.047, 0.0],
        AttrDataFormat::Scalar,
    )
    .bytes;
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
    read_attributes(&mut c);
    big_spectrum(&mut c);
    command_inout(&mut c);
    client_round_trip(&mut c);
    c.final_summary();
}
