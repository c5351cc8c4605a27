#!/usr/bin/env python3
"""PyTango (10.x) re-implementation of the TangoTest device class.

It exposes the same interface as Debian's C++ TangoTest 9.3.4 (see
docs: tangotest-9.3.4-interface.txt): same class name, attribute names,
data types, formats, max dimensions, writability and commands, so the
project's interop tests can run the same scenarios against a cppTango 10
(PyTango-bundled) server.

Run in no-database mode:
    python py_tangotest.py test -nodb -dlist sys/tg_test/1 \
        -ORBendPoint giop:tcp:127.0.0.1:PORT

Known deviations from the C++ TangoTest (PyTango cannot do better):
- READ_WITH_WRITE attributes (double/long/short_scalar_rww) cannot be
  created from Python: tango.Attr has no "associated attribute" argument
  and cppTango rejects READ_WITH_WRITE without it.  They are exposed as
  READ_WRITE attributes whose read value mirrors the matching base
  scalar, whose set-point mirrors the matching *_w attribute, and a write
  to them is forwarded to the *_w attribute.
- Writable numeric scalars read back the last written value (the C++
  TangoTest returns pseudo-random read values and the written value only
  as the set-point).
- Crash* commands raise a DevFailed instead of crashing the process.
"""
import threading
import time

import numpy as np
from tango import (
    AttrDataFormat,
    AttrWriteType,
    CmdArgType,
    DevState,
    DispLevel,
    Except,
)
from tango.server import Device, DeviceMeta, attribute, command, run

T = CmdArgType
SCALAR, SPECTRUM, IMAGE = (
    AttrDataFormat.SCALAR,
    AttrDataFormat.SPECTRUM,
    AttrDataFormat.IMAGE,
)
R, W, RW = AttrWriteType.READ, AttrWriteType.WRITE, AttrWriteType.READ_WRITE

SPEC_LEN = 256  # length of the generated spectra (like TangoTest)
IMG_LEN = 251  # side of the generated images (like TangoTest)
STR_IMG_X, STR_IMG_Y = 8, 4  # string_image_ro is kept small on purpose

NUMPY_TYPES = {
    T.DevBoolean: np.bool_,
    T.DevUChar: np.uint8,
    T.DevShort: np.int16,
    T.DevUShort: np.uint16,
    T.DevLong: np.int32,
    T.DevULong: np.uint32,
    T.DevLong64: np.int64,
    T.DevULong64: np.uint64,
    T.DevFloat: np.float32,
    T.DevDouble: np.float64,
}

# name, type, format, writable, max_dim_x, max_dim_y
# (same order as the C++ TangoTest reports them)
ATTRIBUTES = [
    ("ampli", T.DevDouble, SCALAR, W, 1, 0),
    ("boolean_scalar", T.DevBoolean, SCALAR, RW, 1, 0),
    ("double_scalar", T.DevDouble, SCALAR, RW, 1, 0),
    ("double_scalar_rww", T.DevDouble, SCALAR, "rww", 1, 0),
    ("double_scalar_w", T.DevDouble, SCALAR, W, 1, 0),
    ("float_scalar", T.DevFloat, SCALAR, RW, 1, 0),
    ("long64_scalar", T.DevLong64, SCALAR, RW, 1, 0),
    ("long_scalar", T.DevLong, SCALAR, RW, 1, 0),
    ("long_scalar_rww", T.DevLong, SCALAR, "rww", 1, 0),
    ("long_scalar_w", T.DevLong, SCALAR, W, 1, 0),
    ("no_value", T.DevLong, SCALAR, R, 1, 0),
    ("short_scalar", T.DevShort, SCALAR, RW, 1, 0),
    ("short_scalar_ro", T.DevShort, SCALAR, R, 1, 0),
    ("short_scalar_rww", T.DevShort, SCALAR, "rww", 1, 0),
    ("short_scalar_w", T.DevShort, SCALAR, W, 1, 0),
    ("string_scalar", T.DevString, SCALAR, RW, 1, 0),
    ("throw_exception", T.DevLong, SCALAR, R, 1, 0),
    ("uchar_scalar", T.DevUChar, SCALAR, RW, 1, 0),
    ("ulong64_scalar", T.DevULong64, SCALAR, RW, 1, 0),
    ("ushort_scalar", T.DevUShort, SCALAR, RW, 1, 0),
    ("ulong_scalar", T.DevULong, SCALAR, RW, 1, 0),
    ("boolean_spectrum", T.DevBoolean, SPECTRUM, RW, 4096, 0),
    ("boolean_spectrum_ro", T.DevBoolean, SPECTRUM, R, 4096, 0),
    ("double_spectrum", T.DevDouble, SPECTRUM, RW, 4096, 0),
    ("double_spectrum_ro", T.DevDouble, SPECTRUM, R, 4096, 0),
    ("float_spectrum", T.DevFloat, SPECTRUM, RW, 4096, 0),
    ("float_spectrum_ro", T.DevFloat, SPECTRUM, R, 4096, 0),
    ("long64_spectrum_ro", T.DevLong64, SPECTRUM, R, 4096, 0),
    ("long_spectrum", T.DevLong, SPECTRUM, RW, 4096, 0),
    ("long_spectrum_ro", T.DevLong, SPECTRUM, R, 4096, 0),
    ("short_spectrum", T.DevShort, SPECTRUM, RW, 4096, 0),
    ("short_spectrum_ro", T.DevShort, SPECTRUM, R, 4096, 0),
    ("string_spectrum", T.DevString, SPECTRUM, RW, 256, 0),
    ("string_spectrum_ro", T.DevString, SPECTRUM, R, 256, 0),
    ("uchar_spectrum", T.DevUChar, SPECTRUM, RW, 4096, 0),
    ("uchar_spectrum_ro", T.DevUChar, SPECTRUM, R, 4096, 0),
    ("ulong64_spectrum_ro", T.DevULong64, SPECTRUM, R, 4096, 0),
    ("ulong_spectrum_ro", T.DevULong, SPECTRUM, R, 4096, 0),
    ("ushort_spectrum", T.DevUShort, SPECTRUM, RW, 4096, 0),
    ("ushort_spectrum_ro", T.DevUShort, SPECTRUM, R, 4096, 0),
    ("wave", T.DevDouble, SPECTRUM, R, 4096, 0),
    ("boolean_image", T.DevBoolean, IMAGE, RW, 251, 251),
    ("boolean_image_ro", T.DevBoolean, IMAGE, R, 251, 251),
    ("double_image", T.DevDouble, IMAGE, RW, 251, 251),
    ("double_image_ro", T.DevDouble, IMAGE, R, 251, 251),
    ("float_image", T.DevFloat, IMAGE, RW, 251, 251),
    ("float_image_ro", T.DevFloat, IMAGE, R, 251, 251),
    ("long64_image_ro", T.DevLong64, IMAGE, R, 251, 251),
    ("long_image", T.DevLong, IMAGE, RW, 251, 251),
    ("long_image_ro", T.DevLong, IMAGE, R, 251, 251),
    ("short_image", T.DevShort, IMAGE, RW, 251, 251),
    ("short_image_ro", T.DevShort, IMAGE, R, 251, 251),
    ("string_image", T.DevString, IMAGE, RW, 256, 256),
    ("string_image_ro", T.DevString, IMAGE, R, 256, 256),
    ("uchar_image", T.DevUChar, IMAGE, RW, 251, 251),
    ("uchar_image_ro", T.DevUChar, IMAGE, R, 251, 251),
    ("ulong64_image_ro", T.DevULong64, IMAGE, R, 251, 251),
    ("ulong_image_ro", T.DevULong, IMAGE, R, 251, 251),
    ("ushort_image", T.DevUShort, IMAGE, RW, 251, 251),
    ("ushort_image_ro", T.DevUShort, IMAGE, R, 8192, 8192),
]

# READ_WITH_WRITE attribute -> (attribute giving its read value, associated writable attribute)
RWW = {
    "double_scalar_rww": ("double_scalar", "double_scalar_w"),
    "long_scalar_rww": ("long_scalar", "long_scalar_w"),
    "short_scalar_rww": ("short_scalar", "short_scalar_w"),
}

# Echo commands: name == argument type == result type.
ECHO_COMMANDS = [
    "DevBoolean",
    "DevDouble",
    "DevFloat",
    "DevLong",
    "DevLong64",
    "DevShort",
    "DevString",
    "DevULong",
    "DevULong64",
    "DevUShort",
    "DevVarCharArray",
    "DevVarDoubleArray",
    "DevVarDoubleStringArray",
    "DevVarFloatArray",
    "DevVarLong64Array",
    "DevVarLongArray",
    "DevVarLongStringArray",
    "DevVarShortArray",
    "DevVarStringArray",
    "DevVarULong64Array",
    "DevVarULongArray",
    "DevVarUShortArray",
]


def _initial_value(dtype, dformat):
    """Initial value of a writable attribute (TangoTest starts with zeros)."""
    if dtype == T.DevString:
        if dformat == SCALAR:
            return "Default string"
        if dformat == SPECTRUM:
            return [""] * SPEC_LEN
        return [[""] * IMG_LEN for _ in range(IMG_LEN)]
    nptype = NUMPY_TYPES[dtype]
    if dformat == SCALAR:
        return True if dtype == T.DevBoolean else nptype(0).item()
    if dformat == SPECTRUM:
        return np.zeros(SPEC_LEN, dtype=nptype)
    return np.zeros((IMG_LEN, IMG_LEN), dtype=nptype)


def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return [list(v) if isinstance(v, (list, tuple, np.ndarray)) else v for v in value]
    return value


class _Impl:
    """Behaviour shared by the generated TangoTest class."""

    def init_device(self):
        Device.init_device(self)
        self._lock = threading.Lock()
        self._rng = np.random.default_rng()
        self._values = {}
        for name, dtype, dformat, writable, _, _ in ATTRIBUTES:
            if writable in (W, RW):
                self._values[name] = _initial_value(dtype, dformat)
        self._values["ampli"] = 0.0
        self._wave_phase = 0
        self._t0 = time.monotonic()
        self._set_running_state(DevState.RUNNING)

    def _set_running_state(self, state):
        self.set_state(state)
        self.set_status(f"The device is in {state} state.")

    # ---- generated data --------------------------------------------------
    def _random(self, dtype, shape):
        if dtype == T.DevBoolean:
            return self._rng.integers(0, 2, size=shape).astype(np.bool_)
        return self._rng.integers(0, 256, size=shape).astype(NUMPY_TYPES[dtype])

    def _read_ro(self, name, dtype, dformat):
        if name == "wave":
            amp = self._values["ampli"] or 1.0
            self._wave_phase = (self._wave_phase + 1) % 360
            idx = np.arange(1, SPEC_LEN + 1) + self._wave_phase
            return amp * np.sin(np.deg2rad(idx))
        if name == "no_value":
            return None  # value never set -> API_AttrValueNotSet
        if name == "throw_exception":
            Except.throw_exception(
                "exception test",
                "here is the exception you requested",
                "TangoTest::read_throw_exception",
            )
        if dtype == T.DevString:
            tick = int((time.monotonic() - self._t0) * 10) % 10000
            if dformat == SPECTRUM:
                return [f"[{i:02d}]::hello-world-{(i * 37 + tick) % 10000:04d}" for i in range(SPEC_LEN)]
            return [
                [f"[{x:02d}][{y:02d}]::hello world::{(x * 31 + y * 17 + tick) % 10000:04d}" for x in range(STR_IMG_X)]
                for y in range(STR_IMG_Y)
            ]
        if dformat == SCALAR:
            return self._random(dtype, None).item()
        if dformat == SPECTRUM:
            return self._random(dtype, SPEC_LEN)
        return self._random(dtype, (IMG_LEN, IMG_LEN))

    # ---- generic read / write ----------------------------------------------
    def _generic_read(self, name):
        _, dtype, dformat, writable, _, _ = _SPECS[name]
        if writable == "rww":
            with self._lock:
                return _copy(self._values[RWW[name][0]])
        if writable == RW:
            with self._lock:
                return _copy(self._values[name])
        return self._read_ro(name, dtype, dformat)

    def _generic_write(self, name, value):
        value = _copy(value)
        with self._lock:
            if name in RWW:
                assoc = RWW[name][1]
                self._values[assoc] = value
                self._set_assoc_setpoint(assoc, value)
            else:
                self._values[name] = value
                for rww, (_, a) in RWW.items():
                    if a == name:
                        self._set_assoc_setpoint(rww, value)

    def _set_assoc_setpoint(self, rww_name, value):
        # Keep the set-point of the (emulated) READ_WITH_WRITE attribute in sync.
        self.get_device_attr().get_w_attr_by_name(rww_name).set_write_value(value)

    # ---- commands -----------------------------------------------------------
    def _switch_states(self):
        new = DevState.FAULT if self.get_state() == DevState.RUNNING else DevState.RUNNING
        self._set_running_state(new)

    def _crash(self, what):
        Except.throw_exception(
            "API_NotSupported",
            f"{what} is not supported in the PyTango peer",
            f"TangoTest::{what}",
        )


_SPECS = {a[0]: a for a in ATTRIBUTES}


def _reader(name):
    def read(self):
        return self._generic_read(name)

    read.__name__ = f"read_{name}"
    return read


def _writer(name):
    def write(self, value):
        self._generic_write(name, value)

    write.__name__ = f"write_{name}"
    return write


def _build_class():
    ns = {}
    for name, dtype, dformat, writable, max_x, max_y in ATTRIBUTES:
        kwargs = {"name": name, "dtype": dtype, "dformat": dformat}
        if dformat != SCALAR:
            kwargs["max_dim_x"] = max_x
        if dformat == IMAGE:
            kwargs["max_dim_y"] = max_y
        if writable == "rww":
            # READ_WITH_WRITE is impossible from PyTango (see module doc).
            kwargs["access"] = RW
        else:
            kwargs["access"] = writable
        if kwargs["access"] in (R, RW):
            kwargs["fget"] = _reader(name)
        if kwargs["access"] in (W, RW):
            kwargs["fset"] = _writer(name)
        ns[name] = attribute(**kwargs)

    def make_echo(cmd_name):
        def echo(self, argin):
            return argin

        echo.__name__ = cmd_name
        dtype = getattr(T, cmd_name)
        return command(echo, dtype_in=dtype, dtype_out=dtype, doc_in="Any value", doc_out="Echo of the argin value")

    for cmd_name in ECHO_COMMANDS:
        ns[cmd_name] = make_echo(cmd_name)

    def DevVoid(self):  # noqa: N802
        pass

    def SwitchStates(self):  # noqa: N802
        self._switch_states()

    def DumpExecutionState(self):  # noqa: N802
        pass

    def CrashFromDevelopperThread(self):  # noqa: N802
        self._crash("CrashFromDevelopperThread")

    def CrashFromOmniThread(self):  # noqa: N802
        self._crash("CrashFromOmniThread")

    ns["DevVoid"] = command(DevVoid)
    ns["SwitchStates"] = command(SwitchStates)
    ns["DumpExecutionState"] = command(DumpExecutionState)
    ns["CrashFromDevelopperThread"] = command(CrashFromDevelopperThread, display_level=DispLevel.EXPERT)
    ns["CrashFromOmniThread"] = command(CrashFromOmniThread, display_level=DispLevel.EXPERT)
    ns["__module__"] = __name__
    ns["__doc__"] = "PyTango re-implementation of the TangoTest device class"
    return DeviceMeta("TangoTest", (_Impl, Device), ns)


TangoTest = _build_class()

if __name__ == "__main__":
    run((TangoTest,))
