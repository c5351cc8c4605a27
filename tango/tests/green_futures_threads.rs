//! Futures mode takes no thread per request: 10,000 submitted reads are all in flight at
//! once on one connection (the server below answers none of them until it holds all
//! 10,000), with one reader thread added to the process, which stops once idle. And many
//! threads submitting, waiting (each reading for the others while it waits) and calling
//! synchronously on one shared connection all get their own replies.
//!
//! The tests of this binary run one at a time (`SERIAL`): one counts the threads of the
//! process (`/proc/self/task`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tango::green::{DeviceProxy, GreenMode};
use tango_core::cdr::CdrEncode;
use tango_core::giop::{self, FrameDecoder, ReplyHeader, ReplyStatus, Version};
use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttributeDim, AttributeValue5, CmdArgType, TimeVal,
};
use tango_core::ops::{OperationArgs, ReadAttributes5};

const CALLS: usize = 10_000;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn reply(id: u32, body: impl FnOnce(&mut tango_core::cdr::CdrWriter)) -> Vec<u8> {
    giop::encode_reply(
        Version::V1_0,
        &ReplyHeader {
            request_id: id,
            status: ReplyStatus::NoException,
            service_contexts: vec![],
        },
        body,
    )
}

/// The value a read of `name` gets: its request id, so that each caller can check it
/// got its own reply.
fn value(name: &str, id: u32) -> AttributeValue5 {
    AttributeValue5 {
        value: AttrValUnion::Double(vec![f64::from(id)]),
        quality: AttrQuality::Valid,
        data_format: AttrDataFormat::Scalar,
        data_type: CmdArgType::DevDouble.code(),
        time: TimeVal::from_secs_f64(1_700_000_000.0),
        name: name.to_owned(),
        r_dim: AttributeDim::new(1, 0),
        w_dim: AttributeDim::new(0, 0),
        err_list: Vec::new(),
    }
}

/// A Device_5 server on one thread per connection: it answers `_is_a` at once, and holds
/// the replies to `read_attributes_5` until `hold` of them are unanswered, then answers
/// them all (and every later one at once). `received` counts the reads.
fn holding_server(hold: usize, received: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let received = received.clone();
            thread::spawn(move || serve(stream, hold, &received));
        }
    });
    port
}

fn serve(mut stream: TcpStream, hold: usize, received: &AtomicUsize) {
    let mut framer = FrameDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut held: Vec<(u32, String)> = Vec::new();
    let mut released = false;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        framer.push(&buf[..n]);
        let mut out = Vec::new();
        while let Ok(Some(msg)) = framer.next_message() {
            let (header, mut args) = giop::decode_request(&msg).unwrap();
            let id = header.request_id;
            match header.operation.as_str() {
                "_is_a" => {
                    let repo = args.read_string().unwrap();
                    out.extend(reply(id, |w| {
                        w.write_bool(repo == "IDL:Tango/Device_5:1.0")
                    }));
                }
                "read_attributes_5" => {
                    let op = ReadAttributes5::decode_args(&mut args).unwrap();
                    received.fetch_add(1, Ordering::SeqCst);
                    held.push((id, op.names[0].clone()));
                }
                other => panic!("unexpected {other}"),
            }
        }
        if released || held.len() >= hold {
            released = true;
            for (id, name) in held.drain(..) {
                out.extend(reply(id, |w| vec![value(&name, id)].encode(w)));
            }
        }
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
    }
}

#[test]
fn ten_thousand_submitted_reads_are_in_flight_at_once_with_one_more_thread() {
    let _serial = serial();
    let received = Arc::new(AtomicUsize::new(0));
    let port = holding_server(CALLS, received.clone());
    let name = format!("tango://127.0.0.1:{port}/test/hold/1#dbase=no");
    let dev = DeviceProxy::new_with_mode(&name, GreenMode::Futures)
        .wait()
        .unwrap();
    // time enough for 10,000 requests of a debug build on a busy machine
    dev.set_timeout_millis(60_000);
    // settle: the server's connection thread is up
    thread::sleep(Duration::from_millis(50));
    let before = threads();

    let pending: Vec<_> = (0..CALLS)
        .map(|_| dev.read_attribute("double_scalar").submit())
        .collect();
    let during = threads();
    // the server holds every reply until it has all the requests: they are all in flight
    let t = Instant::now();
    while received.load(Ordering::SeqCst) < CALLS {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "only {} of {CALLS} requests reached the server",
            received.load(Ordering::SeqCst)
        );
        thread::sleep(Duration::from_millis(10));
    }
    let mut ids = std::collections::HashSet::new();
    for p in pending {
        let attr = p.result().unwrap();
        assert_eq!(attr.name, "double_scalar");
        let id: f64 = attr.get().unwrap();
        assert!(ids.insert(id as u32), "two calls got the reply to {id}");
    }
    assert_eq!(ids.len(), CALLS);
    assert!(
        during <= before + 2,
        "{CALLS} submitted calls took {} threads (before: {before})",
        during - before
    );

    // the connection's reader thread stops once it has nothing to read for
    let t = Instant::now();
    while threads() > before {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{} threads left after the calls (before: {before})",
            threads()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The request id a read's reply carries (see `value`).
fn id_of(attr: &tango::DeviceAttribute) -> u32 {
    attr.get::<f64>().unwrap() as u32
}

#[test]
fn threads_submitting_waiting_and_calling_synchronously_share_one_connection() {
    let _serial = serial();
    let received = Arc::new(AtomicUsize::new(0));
    let port = holding_server(1, received.clone());
    let name = format!("tango://127.0.0.1:{port}/test/hold/1#dbase=no");
    let futures = DeviceProxy::new_with_mode(&name, GreenMode::Futures)
        .wait()
        .unwrap();
    let sync = tango::DeviceProxy::new(&name).unwrap();
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (futures, sync) = (futures.clone(), sync.clone());
            thread::spawn(move || {
                let mut ids = Vec::new();
                for round in 0..300 {
                    if w == 0 {
                        // a blocking caller among the queued ones
                        ids.push(id_of(&sync.read_attribute("double_scalar").unwrap()));
                        continue;
                    }
                    // a few in flight, waited for in turn (or out of order)
                    let mut pending: Vec<_> = (0..1 + (w + round) % 5)
                        .map(|_| futures.read_attribute("double_scalar").submit())
                        .collect();
                    if round % 2 == 0 {
                        pending.reverse();
                    }
                    for p in pending {
                        ids.push(id_of(&p.result().unwrap()));
                    }
                }
                ids
            })
        })
        .collect();
    let mut all = std::collections::HashSet::new();
    let mut count = 0;
    for w in workers {
        for id in w.join().unwrap() {
            count += 1;
            assert!(all.insert(id), "the reply to {id} was handed out twice");
        }
    }
    assert_eq!(count, received.load(Ordering::SeqCst));
}
