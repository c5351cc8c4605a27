//! The `TangoTest` device class, defined with tango-core's typed device API.
//!
//! Interface: that of Debian's C++ TangoTest 9.3.4, attribute for attribute (same order,
//! types, formats, writability, maximum dimensions, labels, descriptions, limits) and
//! command for command (same types, argument descriptions and display levels), followed
//! by the attributes newer TangoTest releases added.
//!
//! Behaviour:
//! * Writable attributes read back what was last written. Before the first write, the
//!   numeric scalars show what the C++ device shows: `double_scalar` a sine of amplitude
//!   256, the integer scalars pseudo-random values in `[0, 256)`, `float_scalar`,
//!   `uchar_scalar` and `ushort_scalar` zero; `boolean_scalar` starts `true` and
//!   `string_scalar` `"Default string"`; writable spectra start as 256 zeros (empty
//!   strings), writable images as 251x251 zeros (empty strings).
//! * `echo_mode` (`true` at start): set to `false`, the numeric scalars ignore writes
//!   for reading and show generated data only, as C++ TangoTest 9.3.4 does.
//! * The `*_rww` attributes (READ_WITH_WRITE) read like the C++ ones: from the value of
//!   their writable partner `*_w` (256 until written): `double_scalar_rww` is
//!   `w * sin(tick)`, `long_scalar_rww` and `short_scalar_rww` pseudo-random in `[0, w)`.
//! * Read-only spectra hold 256 pseudo-random values in `[0, 256)`; read-only images are
//!   251x251, a "beam" (a cone at a jittering centre) for the numeric types and
//!   pseudo-random data for booleans, `uchar_image_ro` and `ushort_image_ro`;
//!   `string_spectrum_ro` holds 256 short strings, `string_image_ro` 8x4.
//! * `wave`: 256 points of `ampli * sin((i * freq + tick) degrees)`; `ampli` is 1 until
//!   written (it reads 0 until then, as the C++ set point does), `freq` 1.
//! * `no_value` fails with `API_AttrValueNotSet`, `throw_exception` with
//!   `exception test`.
//! * `long_scalar_ts_future` / `long_scalar_ts_past` read with a timestamp
//!   [`TS_OFFSET_SECS`] seconds after / before now.
//! * Commands `DevXxx` echo their argument; `DevVoid` and `DumpExecutionState` do
//!   nothing; `SwitchStates` toggles RUNNING <-> FAULT; the `Crash*` commands refuse
//!   with a `DevFailed` instead of crashing the server. `Init` resets every value and
//!   sets RUNNING.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tango_core::device::{
    Attr, AttrReading, AttrValueType, ClassBuilder, Cmd, CommandType, DeviceClass, DeviceCtx,
    ElementType,
};
use tango_core::idl::{CmdArgType, DevFailed, DevState, DispLevel, TimeVal};
use tango_core::value::{AttrData, Image};

/// The class name.
pub const CLASS_NAME: &str = "TangoTest";
/// Length of the generated and initial spectra (the C++ `kSpecLen`).
pub const SPECTRUM_LEN: usize = 256;
/// Side of the generated and initial images (the C++ `kImagLen`).
pub const IMAGE_SIDE: usize = 251;
/// Columns of `string_image_ro`.
pub const STRING_IMAGE_RO_X: usize = 8;
/// Rows of `string_image_ro`.
pub const STRING_IMAGE_RO_Y: usize = 4;
/// Labels of every `enum_*` attribute.
pub const ENUM_LABELS: [&str; 3] = ["LABEL0", "LABEL1", "LABEL2"];
/// How far in the future (past) `long_scalar_ts_future` (`long_scalar_ts_past`) is
/// stamped, in seconds.
pub const TS_OFFSET_SECS: u64 = 3600;

/// Generated integers lie in `[0, GEN_MAX)`, as in the C++ device.
const GEN_MAX: u64 = 256;
/// The C++ device's internal start value of the scalar set points (`256`), which drives
/// the generated scalars until written.
const SETPOINT_START: i64 = 256;
const NOT_SPECIFIED: &str = "Not specified";

/// The data of one TangoTest device.
struct TangoTest {
    rng: u64,
    tick: u64,
    echo_mode: bool,
    freq: f64,
    ampli: Option<f64>,
    boolean_scalar: bool,
    double_scalar: Option<f64>,
    double_scalar_w: Option<f64>,
    float_scalar: Option<f32>,
    long64_scalar: Option<i64>,
    long_scalar: Option<i32>,
    long_scalar_w: Option<i32>,
    short_scalar: Option<i16>,
    short_scalar_w: Option<i16>,
    string_scalar: String,
    uchar_scalar: Option<u8>,
    ulong64_scalar: Option<u64>,
    ushort_scalar: Option<u16>,
    ulong_scalar: Option<u32>,
    boolean_spectrum: Vec<bool>,
    double_spectrum: Vec<f64>,
    float_spectrum: Vec<f32>,
    long_spectrum: Vec<i32>,
    short_spectrum: Vec<i16>,
    string_spectrum: Vec<String>,
    uchar_spectrum: Vec<u8>,
    ushort_spectrum: Vec<u16>,
    boolean_image: Image<bool>,
    double_image: Image<f64>,
    float_image: Image<f32>,
    long_image: Image<i32>,
    short_image: Image<i16>,
    string_image: Image<String>,
    uchar_image: Image<u8>,
    ushort_image: Image<u16>,
    enum_scalar: i16,
    enum_spectrum: Vec<i16>,
    enum_image: Image<i16>,
    long_scalar_ts_future: i32,
    long_scalar_ts_past: i32,
}

fn filled<E: Clone>(v: E) -> Image<E> {
    Image {
        dim_x: IMAGE_SIDE,
        dim_y: IMAGE_SIDE,
        data: vec![v; IMAGE_SIDE * IMAGE_SIDE],
    }
}

impl TangoTest {
    fn new(seed: u64) -> Self {
        TangoTest {
            rng: seed,
            tick: 0,
            echo_mode: true,
            freq: 1.0,
            ampli: None,
            boolean_scalar: true,
            double_scalar: None,
            double_scalar_w: None,
            float_scalar: None,
            long64_scalar: None,
            long_scalar: None,
            long_scalar_w: None,
            short_scalar: None,
            short_scalar_w: None,
            string_scalar: "Default string".to_owned(),
            uchar_scalar: None,
            ulong64_scalar: None,
            ushort_scalar: None,
            ulong_scalar: None,
            boolean_spectrum: vec![false; SPECTRUM_LEN],
            double_spectrum: vec![0.0; SPECTRUM_LEN],
            float_spectrum: vec![0.0; SPECTRUM_LEN],
            long_spectrum: vec![0; SPECTRUM_LEN],
            short_spectrum: vec![0; SPECTRUM_LEN],
            string_spectrum: vec![String::new(); SPECTRUM_LEN],
            uchar_spectrum: vec![0; SPECTRUM_LEN],
            ushort_spectrum: vec![0; SPECTRUM_LEN],
            boolean_image: filled(false),
            double_image: filled(0.0),
            float_image: filled(0.0),
            long_image: filled(0),
            short_image: filled(0),
            string_image: filled(String::new()),
            uchar_image: filled(0),
            ushort_image: filled(0),
            enum_scalar: 0,
            enum_spectrum: vec![0; SPECTRUM_LEN],
            enum_image: filled(0),
            long_scalar_ts_future: 0,
            long_scalar_ts_past: 0,
        }
    }

    /// splitmix64: plenty for test data, no dependency.
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Pseudo-random in `[0, max)`, 0 when `max <= 1` (the C++ `randomize`).
    fn below(&mut self, max: i64) -> i64 {
        if max > 1 {
            (self.next_u64() % max as u64) as i64
        } else {
            0
        }
    }

    /// Pseudo-random in `[0, 256)`.
    fn byte(&mut self) -> u8 {
        (self.next_u64() % GEN_MAX) as u8
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Advances the clock of the generated data and returns its phase, in degrees.
    fn step(&mut self) -> f64 {
        self.tick = self.tick.wrapping_add(1);
        (self.tick % 360) as f64
    }

    /// The written value if reads echo writes.
    fn echoed<V>(&self, v: Option<V>) -> Option<V> {
        if self.echo_mode {
            v
        } else {
            None
        }
    }

    fn sine(&mut self, amplitude: f64) -> f64 {
        amplitude * self.step().to_radians().sin()
    }

    fn wave(&mut self) -> Vec<f64> {
        let phase = self.step();
        let amp = self.ampli.unwrap_or(1.0);
        let freq = self.freq;
        (0..SPECTRUM_LEN)
            .map(|i| amp * (i as f64 * freq + phase).to_radians().sin())
            .collect()
    }

    /// A 251x251 "beam": a cone whose centre jitters by up to 5% of the side and whose
    /// radius (about an eighth of the side) by up to 20%.
    fn beam(&mut self) -> Vec<u8> {
        let n = IMAGE_SIDE as i64;
        let jitter = |this: &mut Self, span: i64| {
            let v = this.below(span.max(1));
            if this.next_u64() & 1 == 1 {
                -v
            } else {
                v
            }
        };
        let cx = (n - 1) / 2 + jitter(self, n / 20);
        let cy = (n - 1) / 2 + jitter(self, n / 20);
        let radius = n / 8 + jitter(self, n / 40);
        let mut img = vec![0u8; IMAGE_SIDE * IMAGE_SIDE];
        for y in 0..n {
            for x in 0..n {
                let (dx, dy) = (x - cx, y - cy);
                let dist = ((dx * dx + dy * dy) as f64).sqrt() as i64;
                if dist < radius {
                    img[(y * n + x) as usize] = (radius - dist).min(255) as u8;
                }
            }
        }
        img
    }

    fn beam_image<E>(&mut self, f: impl Fn(u8) -> E) -> Image<E> {
        let _ = self.step();
        Image {
            dim_x: IMAGE_SIDE,
            dim_y: IMAGE_SIDE,
            data: self.beam().into_iter().map(f).collect(),
        }
    }

    fn random_image<E>(&mut self, f: impl Fn(u8) -> E) -> Image<E> {
        let _ = self.step();
        Image {
            dim_x: IMAGE_SIDE,
            dim_y: IMAGE_SIDE,
            data: self
                .bytes(IMAGE_SIDE * IMAGE_SIDE)
                .into_iter()
                .map(f)
                .collect(),
        }
    }

    fn random_spectrum<E>(&mut self, f: impl Fn(u8) -> E) -> Vec<E> {
        let _ = self.step();
        self.bytes(SPECTRUM_LEN).into_iter().map(f).collect()
    }
}

type Field<V> = fn(&mut TangoTest) -> &mut V;
type Gen<V> = fn(&mut TangoTest) -> V;

/// A READ_WRITE attribute whose read is the value last written.
fn rw<V>(name: &str, field: Field<V>) -> Attr<TangoTest>
where
    V: AttrValueType + Clone + 'static,
{
    Attr::new::<V>(name)
        .read_write()
        .read(move |d: &mut TangoTest, _| Ok(field(d).clone()))
        .write(move |d: &mut TangoTest, _, v: V| {
            *field(d) = v;
            Ok(())
        })
}

/// A READ_WRITE scalar reading the value written (in echo mode), else generated data.
fn rw_scalar<E>(name: &str, field: Field<Option<E>>, gen: Gen<E>) -> Attr<TangoTest>
where
    E: ElementType + Copy + 'static,
{
    Attr::new::<E>(name)
        .read_write()
        .read(move |d: &mut TangoTest, _| {
            let written = *field(d);
            Ok(match d.echoed(written) {
                Some(v) => v,
                None => gen(d),
            })
        })
        .write(move |d: &mut TangoTest, _, v: E| {
            *field(d) = Some(v);
            Ok(())
        })
}

/// A WRITE attribute; reading it gives the set point (zero until written).
fn write_only<E>(name: &str, field: Field<Option<E>>) -> Attr<TangoTest>
where
    E: ElementType + Copy + Default + 'static,
{
    Attr::new::<E>(name)
        .write_only()
        .read(move |d: &mut TangoTest, _| Ok(field(d).unwrap_or_default()))
        .write(move |d: &mut TangoTest, _, v: E| {
            *field(d) = Some(v);
            Ok(())
        })
}

/// A READ attribute of generated data.
fn ro<V>(name: &str, gen: Gen<V>) -> Attr<TangoTest>
where
    V: AttrValueType + 'static,
{
    Attr::new::<V>(name).read(move |d: &mut TangoTest, _| Ok(gen(d)))
}

fn enum_index(v: i16) -> Result<i16, DevFailed> {
    if (0..ENUM_LABELS.len() as i16).contains(&v) {
        Ok(v)
    } else {
        Err(DevFailed::new(
            "API_WAttrOutsideLimit",
            format!(
                "{v} is not the index of one of the {} enumeration labels",
                ENUM_LABELS.len()
            ),
            "TangoTest::write_enum",
        ))
    }
}

fn enum_reading(data: Vec<i16>, dim_x: usize, dim_y: usize) -> AttrReading {
    AttrReading::new(AttrData::Enum(data), dim_x, dim_y)
}

fn stamped(value: i32, future: bool) -> AttrReading {
    let now = SystemTime::now();
    let offset = Duration::from_secs(TS_OFFSET_SECS);
    let t = if future {
        now + offset
    } else {
        now.checked_sub(offset).unwrap_or(UNIX_EPOCH)
    };
    AttrReading::new(AttrData::Long(vec![value]), 1, 0).with_time(TimeVal::from_system_time(t))
}

fn no_value() -> DevFailed {
    DevFailed::new(
        "API_AttrValueNotSet",
        "Read value for attribute no_value has not been updated",
        "Device_3Impl::read_attributes_no_except",
    )
}

fn the_exception() -> DevFailed {
    DevFailed::new(
        "exception test",
        "here is the exception you requested",
        "TangoTest::read_throw_exception",
    )
}

fn refuse_crash(name: &str, origin: &str) -> DevFailed {
    DevFailed::new(
        "API_NotSupported",
        format!("{name} would crash the device server; this TangoTest refuses to"),
        origin,
    )
}

/// The attributes, in the order of C++ TangoTest 9.3.4, then the newer ones.
fn attributes() -> Vec<Attr<TangoTest>> {
    let scalars = vec![
        write_only::<f64>("ampli", |d| &mut d.ampli),
        rw::<bool>("boolean_scalar", |d| &mut d.boolean_scalar)
            .description("A boolean scalar attribute"),
        rw_scalar::<f64>(
            "double_scalar",
            |d| &mut d.double_scalar,
            |d| d.sine(SETPOINT_START as f64),
        ),
        ro::<f64>("double_scalar_rww", |d| {
            let w = d.double_scalar_w.unwrap_or(SETPOINT_START as f64);
            d.sine(w)
        })
        .read_with_write("double_scalar_w"),
        write_only::<f64>("double_scalar_w", |d| &mut d.double_scalar_w),
        rw_scalar::<f32>("float_scalar", |d| &mut d.float_scalar, |_| 0.0)
            .description("A float attribute"),
        rw_scalar::<i64>(
            "long64_scalar",
            |d| &mut d.long64_scalar,
            |d| d.byte() as i64,
        ),
        rw_scalar::<i32>("long_scalar", |d| &mut d.long_scalar, |d| d.byte() as i32),
        ro::<i32>("long_scalar_rww", |d| {
            let w = d.long_scalar_w.map_or(SETPOINT_START, i64::from);
            d.below(w) as i32
        })
        .read_with_write("long_scalar_w"),
        write_only::<i32>("long_scalar_w", |d| &mut d.long_scalar_w),
        Attr::new::<i32>("no_value").read(|_: &mut TangoTest, _| Err::<i32, _>(no_value())),
        rw_scalar::<i16>("short_scalar", |d| &mut d.short_scalar, |d| d.byte() as i16),
        ro::<i16>("short_scalar_ro", |d| d.byte() as i16),
        ro::<i16>("short_scalar_rww", |d| {
            let w = d.short_scalar_w.map_or(SETPOINT_START, i64::from);
            d.below(w) as i16
        })
        .read_with_write("short_scalar_w"),
        write_only::<i16>("short_scalar_w", |d| &mut d.short_scalar_w),
        rw::<String>("string_scalar", |d| &mut d.string_scalar),
        Attr::new::<i32>("throw_exception")
            .read(|_: &mut TangoTest, _| Err::<i32, _>(the_exception())),
        rw_scalar::<u8>("uchar_scalar", |d| &mut d.uchar_scalar, |_| 0),
        rw_scalar::<u64>(
            "ulong64_scalar",
            |d| &mut d.ulong64_scalar,
            |d| d.byte() as u64,
        ),
        rw_scalar::<u16>("ushort_scalar", |d| &mut d.ushort_scalar, |_| 0),
        rw_scalar::<u32>("ulong_scalar", |d| &mut d.ulong_scalar, |d| d.byte() as u32),
    ];
    let spectra = vec![
        rw::<Vec<bool>>("boolean_spectrum", |d| &mut d.boolean_spectrum),
        ro::<Vec<bool>>("boolean_spectrum_ro", |d| d.random_spectrum(|b| b & 1 == 1)),
        rw::<Vec<f64>>("double_spectrum", |d| &mut d.double_spectrum),
        ro::<Vec<f64>>("double_spectrum_ro", |d| d.random_spectrum(f64::from)),
        rw::<Vec<f32>>("float_spectrum", |d| &mut d.float_spectrum)
            .description("A float spectrum attribute"),
        ro::<Vec<f32>>("float_spectrum_ro", |d| d.random_spectrum(f32::from)),
        ro::<Vec<i64>>("long64_spectrum_ro", |d| d.random_spectrum(i64::from)),
        rw::<Vec<i32>>("long_spectrum", |d| &mut d.long_spectrum),
        ro::<Vec<i32>>("long_spectrum_ro", |d| d.random_spectrum(i32::from)),
        rw::<Vec<i16>>("short_spectrum", |d| &mut d.short_spectrum),
        ro::<Vec<i16>>("short_spectrum_ro", |d| d.random_spectrum(i16::from)),
        rw::<Vec<String>>("string_spectrum", |d| &mut d.string_spectrum).max_dim_x(256),
        ro::<Vec<String>>("string_spectrum_ro", |d| {
            let _ = d.step();
            (0..SPECTRUM_LEN)
                .map(|i| format!("[{i:02}]::hello-world-{:04}", d.byte()))
                .collect()
        })
        .max_dim_x(256),
        rw::<Vec<u8>>("uchar_spectrum", |d| &mut d.uchar_spectrum)
            .description("An unsigned char spectrum attribute")
            .min_value(0.0)
            .max_value(255.0),
        ro::<Vec<u8>>("uchar_spectrum_ro", |d| d.random_spectrum(|b| b)),
        ro::<Vec<u64>>("ulong64_spectrum_ro", |d| d.random_spectrum(u64::from)),
        ro::<Vec<u32>>("ulong_spectrum_ro", |d| d.random_spectrum(u32::from)),
        rw::<Vec<u16>>("ushort_spectrum", |d| &mut d.ushort_spectrum)
            .description("An unsigned short spectrum attribute"),
        ro::<Vec<u16>>("ushort_spectrum_ro", |d| d.random_spectrum(u16::from)),
        ro::<Vec<f64>>("wave", TangoTest::wave),
    ];
    let side = IMAGE_SIDE as i32;
    let images = vec![
        rw::<Image<bool>>("boolean_image", |d| &mut d.boolean_image),
        ro::<Image<bool>>("boolean_image_ro", |d| d.random_image(|b| b & 1 == 1))
            .label("boolean_image"),
        rw::<Image<f64>>("double_image", |d| &mut d.double_image),
        ro::<Image<f64>>("double_image_ro", |d| d.beam_image(f64::from)),
        rw::<Image<f32>>("float_image", |d| &mut d.float_image),
        ro::<Image<f32>>("float_image_ro", |d| d.beam_image(f32::from))
            .label("float_image")
            .description("A float image attribute")
            .min_value(0.0)
            .max_value(255.0),
        ro::<Image<i64>>("long64_image_ro", |d| d.beam_image(i64::from)),
        rw::<Image<i32>>("long_image", |d| &mut d.long_image),
        ro::<Image<i32>>("long_image_ro", |d| d.beam_image(i32::from)),
        rw::<Image<i16>>("short_image", |d| &mut d.short_image),
        ro::<Image<i16>>("short_image_ro", |d| d.beam_image(i16::from)),
        rw::<Image<String>>("string_image", |d| &mut d.string_image)
            .max_dim_x(256)
            .max_dim_y(256),
        ro::<Image<String>>("string_image_ro", |d| {
            let _ = d.step();
            let mut data = Vec::with_capacity(STRING_IMAGE_RO_X * STRING_IMAGE_RO_Y);
            for y in 0..STRING_IMAGE_RO_Y {
                for x in 0..STRING_IMAGE_RO_X {
                    data.push(format!("[{x:02}][{y:02}]::hello world::{:04}", d.byte()));
                }
            }
            Image {
                dim_x: STRING_IMAGE_RO_X,
                dim_y: STRING_IMAGE_RO_Y,
                data,
            }
        })
        .max_dim_x(256)
        .max_dim_y(256),
        rw::<Image<u8>>("uchar_image", |d| &mut d.uchar_image),
        ro::<Image<u8>>("uchar_image_ro", |d| d.random_image(|b| b))
            .label("uchar_image")
            .description("An unsigned char image attribute")
            .min_value(0.0)
            .max_value(255.0),
        ro::<Image<u64>>("ulong64_image_ro", |d| d.beam_image(u64::from)),
        ro::<Image<u32>>("ulong_image_ro", |d| d.beam_image(u32::from)),
        rw::<Image<u16>>("ushort_image", |d| &mut d.ushort_image),
        ro::<Image<u16>>("ushort_image_ro", |d| d.random_image(u16::from))
            .description("An unsigned short image attribute")
            .min_value(0.0)
            .max_value(255.0)
            .max_dim_x(8192)
            .max_dim_y(8192),
    ];
    let images = images
        .into_iter()
        .map(|a| {
            // Keep the C++ 251x251 limits unless set above (string and ushort_ro).
            if a.def().config.max_dim_x == 4096 {
                a.max_dim_x(side).max_dim_y(side)
            } else {
                a
            }
        })
        .collect::<Vec<_>>();
    let newer = vec![
        Attr::new::<i16>("enum_scalar")
            .enum_labels(&ENUM_LABELS)
            .read_write()
            .read_reading(|d: &mut TangoTest, _| Ok(enum_reading(vec![d.enum_scalar], 1, 0)))
            .write(|d: &mut TangoTest, _, v: i16| {
                d.enum_scalar = enum_index(v)?;
                Ok(())
            }),
        Attr::new::<i16>("enum_scalar_ro")
            .enum_labels(&ENUM_LABELS)
            .read_reading(|d: &mut TangoTest, _| {
                let v = (d.step() as usize % ENUM_LABELS.len()) as i16;
                Ok(enum_reading(vec![v], 1, 0))
            }),
        Attr::new::<Vec<i16>>("enum_spectrum")
            .enum_labels(&ENUM_LABELS)
            .read_write()
            .read_reading(|d: &mut TangoTest, _| {
                let v = d.enum_spectrum.clone();
                let n = v.len();
                Ok(enum_reading(v, n, 0))
            })
            .write(|d: &mut TangoTest, _, v: Vec<i16>| {
                d.enum_spectrum = v.into_iter().map(enum_index).collect::<Result<_, _>>()?;
                Ok(())
            }),
        Attr::new::<Vec<i16>>("enum_spectrum_ro")
            .enum_labels(&ENUM_LABELS)
            .read_reading(|d: &mut TangoTest, _| {
                let n = ENUM_LABELS.len() as u8;
                Ok(enum_reading(
                    d.random_spectrum(|b| i16::from(b % n)),
                    SPECTRUM_LEN,
                    0,
                ))
            }),
        Attr::new::<Image<i16>>("enum_image")
            .enum_labels(&ENUM_LABELS)
            .read_write()
            .max_dim_x(side)
            .max_dim_y(side)
            .read_reading(|d: &mut TangoTest, _| {
                let img = d.enum_image.clone();
                Ok(enum_reading(img.data, img.dim_x, img.dim_y))
            })
            .write(|d: &mut TangoTest, _, v: Image<i16>| {
                let data = v
                    .data
                    .into_iter()
                    .map(enum_index)
                    .collect::<Result<_, _>>()?;
                d.enum_image = Image {
                    dim_x: v.dim_x,
                    dim_y: v.dim_y,
                    data,
                };
                Ok(())
            }),
        Attr::new::<Image<i16>>("enum_image_ro")
            .enum_labels(&ENUM_LABELS)
            .max_dim_x(side)
            .max_dim_y(side)
            .read_reading(|d: &mut TangoTest, _| {
                let n = ENUM_LABELS.len() as u8;
                let img = d.random_image(|b| i16::from(b % n));
                Ok(enum_reading(img.data, img.dim_x, img.dim_y))
            }),
        rw::<f64>("freq", |d| &mut d.freq),
        rw::<bool>("echo_mode", |d| &mut d.echo_mode),
        Attr::new::<i32>("long_scalar_ts_future")
            .read_write()
            .read_reading(|d: &mut TangoTest, _| Ok(stamped(d.long_scalar_ts_future, true)))
            .write(|d: &mut TangoTest, _, v: i32| {
                d.long_scalar_ts_future = v;
                Ok(())
            }),
        Attr::new::<i32>("long_scalar_ts_past")
            .read_write()
            .read_reading(|d: &mut TangoTest, _| Ok(stamped(d.long_scalar_ts_past, false)))
            .write(|d: &mut TangoTest, _, v: i32| {
                d.long_scalar_ts_past = v;
                Ok(())
            }),
    ];
    scalars
        .into_iter()
        .chain(spectra)
        .chain(images)
        .chain(newer)
        .map(|a| {
            // C++ TangoTest shows no display format for booleans.
            if a.def().data_type == CmdArgType::DevBoolean {
                a.format(NOT_SPECIFIED)
            } else {
                a
            }
        })
        .collect()
}

/// A command returning its argument.
fn echo<V: CommandType + 'static>(name: &str, in_desc: &str, out_desc: &str) -> Cmd<TangoTest> {
    Cmd::new(name, |_: &mut TangoTest, _: &DeviceCtx, v: V| {
        Ok::<V, DevFailed>(v)
    })
    .in_desc(in_desc)
    .out_desc(out_desc)
}

fn commands() -> Vec<Cmd<TangoTest>> {
    const ECHO: &str = "Echo of the argin value";
    vec![
        Cmd::new(
            "CrashFromDevelopperThread",
            |_: &mut TangoTest, _, (): ()| {
                Err::<(), _>(refuse_crash(
                    "CrashFromDevelopperThread",
                    "TangoTest::crash_from_developper_thread",
                ))
            },
        )
        .display_level(DispLevel::Expert),
        Cmd::new("CrashFromOmniThread", |_: &mut TangoTest, _, (): ()| {
            Err::<(), _>(refuse_crash(
                "CrashFromOmniThread",
                "TangoTest::crash_from_omni_thread",
            ))
        })
        .display_level(DispLevel::Expert),
        echo::<bool>("DevBoolean", "Any boolean value", ECHO),
        echo::<f64>("DevDouble", "Any DevDouble value", ECHO),
        echo::<f32>("DevFloat", "Any DevFloat value", ECHO),
        echo::<i32>("DevLong", "Any DevLong value", ECHO),
        echo::<i64>("DevLong64", "Any DevLong64 value", ECHO),
        echo::<i16>("DevShort", "Any DevShort value", ECHO),
        echo::<String>("DevString", "-", "-"),
        echo::<u32>("DevULong", "Any DevULong", ECHO),
        echo::<u64>("DevULong64", "Any DevULong64 value", ECHO),
        echo::<u16>("DevUShort", "Any DevUShort value", ECHO),
        echo::<Vec<u8>>("DevVarCharArray", "-", "-"),
        echo::<Vec<f64>>("DevVarDoubleArray", "-", "-"),
        echo::<(Vec<f64>, Vec<String>)>("DevVarDoubleStringArray", "-", "-"),
        echo::<Vec<f32>>("DevVarFloatArray", "-", "-"),
        echo::<Vec<i64>>("DevVarLong64Array", "Uninitialised", "Uninitialised"),
        echo::<Vec<i32>>("DevVarLongArray", "-", "-"),
        echo::<(Vec<i32>, Vec<String>)>("DevVarLongStringArray", "-", "-"),
        echo::<Vec<i16>>("DevVarShortArray", "-", "-"),
        echo::<Vec<String>>("DevVarStringArray", "-", "-"),
        echo::<Vec<u64>>("DevVarULong64Array", "Uninitialised", "Uninitialised"),
        echo::<Vec<u32>>("DevVarULongArray", "-", "-"),
        echo::<Vec<u16>>("DevVarUShortArray", "-", "-"),
        Cmd::new("DevVoid", |_: &mut TangoTest, _, (): ()| {
            Ok::<(), DevFailed>(())
        })
        .in_desc("N/A")
        .out_desc("N/A"),
        // The C++ device dumps its execution state only when built with crash
        // reporting (Debian's is not): it does nothing.
        Cmd::new("DumpExecutionState", |_: &mut TangoTest, _, (): ()| {
            Ok::<(), DevFailed>(())
        })
        .display_level(DispLevel::Expert),
        Cmd::new(
            "SwitchStates",
            |_: &mut TangoTest, ctx: &DeviceCtx, (): ()| {
                let next = if ctx.get_state() == DevState::Running {
                    DevState::Fault
                } else {
                    DevState::Running
                };
                ctx.set_state(next);
                Ok::<(), DevFailed>(())
            },
        ),
    ]
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    t ^ COUNTER
        .fetch_add(0x2545_F491_4F6C_DD1D, std::sync::atomic::Ordering::Relaxed)
        .rotate_left(17)
}

/// The `TangoTest` class: the C++ TangoTest 9.3.4 interface and behaviour (see the
/// module documentation), plus the newer attributes.
pub fn tangotest_class() -> DeviceClass {
    let mut b = ClassBuilder::new(CLASS_NAME, |_ctx: &DeviceCtx| TangoTest::new(seed()))
        .description(
            "Test device for generic clients: an echo command per Tango type, attributes of \
             every type and format",
        )
        .init(|_: &mut TangoTest, ctx: &DeviceCtx| {
            ctx.set_state(DevState::Running);
            ctx.set_status("");
            Ok(())
        });
    for a in attributes() {
        b = b.attr(a);
    }
    for c in commands() {
        b = b.command(c);
    }
    b.build()
}
