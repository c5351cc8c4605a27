"""PyTango client side of the tango-rs throughput harness (bench/src/python.rs).

One process per (server, green mode). Usage:

    bench_client.py DEVICE_NAME {sync,futures,gevent,asyncio}

It connects, prints ``ready``, then answers each line ``OP DEPTH SECONDS`` read on stdin
(OP: scalar, command or spectrum) with one line: the turn's elapsed nanoseconds followed by
every completed call's latency in nanoseconds, or ``error MESSAGE``. During a turn DEPTH
calls are kept in flight until SECONDS are up; then no new call starts and the outstanding
ones are waited for (and counted). How each mode keeps DEPTH calls in flight:

- sync: ``tango.DeviceProxy``; one loop at depth 1, else DEPTH threads sharing the proxy;
- futures: ``tango.futures.DeviceProxy`` calls with ``wait=False``, the oldest ``result()``
  waited for first and replaced;
- gevent: ``tango.gevent.DeviceProxy`` shared by DEPTH greenlets;
- asyncio: ``tango.asyncio.DeviceProxy`` shared by DEPTH tasks of one event loop.
"""

import sys
import time

SCALAR_ATTR = "double_scalar"
SPECTRUM_ATTR = "double_spectrum"
COMMAND, COMMAND_ARG = "DevDouble", 1.5
NOW = time.perf_counter_ns


def call_of(dev, op, **kw):
    """The call of OP on DEV, as a function of no argument."""
    if op == "scalar":
        return lambda: dev.read_attribute(SCALAR_ATTR, **kw)
    if op == "command":
        return lambda: dev.command_inout(COMMAND, COMMAND_ARG, **kw)
    if op == "spectrum":
        return lambda: dev.read_attribute(SPECTRUM_ATTR, **kw)
    raise ValueError("unknown op " + op)


def loop_until(call, stop, lat):
    """Calls back to back until STOP (ns), appending each latency to LAT."""
    now = NOW()
    while now < stop:
        call()
        t = NOW()
        lat.append(t - now)
        now = t


def sync_mode(name):
    import threading
    import tango

    dev = tango.DeviceProxy(name)

    def turn(op, depth, secs):
        call = call_of(dev, op)
        lat, errors = [], []
        t0 = NOW()
        stop = t0 + int(secs * 1e9)
        if depth == 1:
            loop_until(call, stop, lat)
            return NOW() - t0, lat

        ready = threading.Barrier(depth + 1)

        def worker():
            mine = []
            ready.wait()
            try:
                loop_until(call, NOW() + int(secs * 1e9), mine)
            except Exception as e:  # reported below, the turn fails
                errors.append(e)
            lat.extend(mine)  # list.extend is atomic under the GIL

        # The clock starts once every thread runs: creating them is not measured.
        threads = [threading.Thread(target=worker) for _ in range(depth)]
        for t in threads:
            t.start()
        ready.wait()
        t0 = NOW()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return NOW() - t0, lat

    return turn


def futures_mode(name):
    import collections
    from tango.futures import DeviceProxy

    dev = DeviceProxy(name)

    def turn(op, depth, secs):
        call = call_of(dev, op, wait=False)
        lat = []
        t0 = NOW()
        stop = t0 + int(secs * 1e9)
        queue = collections.deque((NOW(), call()) for _ in range(depth))
        while queue:
            started, fut = queue.popleft()
            fut.result()
            t = NOW()
            lat.append(t - started)
            if t < stop:
                queue.append((NOW(), call()))
        return NOW() - t0, lat

    return turn


def gevent_mode(name):
    import gevent
    from tango.gevent import DeviceProxy

    dev = DeviceProxy(name)

    def turn(op, depth, secs):
        call = call_of(dev, op)
        lat = []
        t0 = NOW()
        stop = t0 + int(secs * 1e9)
        greenlets = [gevent.spawn(loop_until, call, stop, lat) for _ in range(depth)]
        gevent.joinall(greenlets, raise_error=True)
        return NOW() - t0, lat

    return turn


def asyncio_mode(name):
    import asyncio
    from tango.asyncio import DeviceProxy

    # PyTango's asyncio proxy belongs to the loop it was made in: keep one loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    async def make():
        return await DeviceProxy(name)

    dev = loop.run_until_complete(make())

    async def worker(call, stop, lat):
        now = NOW()
        while now < stop:
            await call()
            t = NOW()
            lat.append(t - now)
            now = t

    async def run(op, depth, secs):
        call = call_of(dev, op)
        lat = []
        t0 = NOW()
        stop = t0 + int(secs * 1e9)
        await asyncio.gather(*(worker(call, stop, lat) for _ in range(depth)))
        return NOW() - t0, lat

    return lambda op, depth, secs: loop.run_until_complete(run(op, depth, secs))


MODES = {
    "sync": sync_mode,
    "futures": futures_mode,
    "gevent": gevent_mode,
    "asyncio": asyncio_mode,
}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in MODES:
        sys.exit("usage: bench_client.py DEVICE_NAME {%s}" % ",".join(MODES))
    turn = MODES[sys.argv[2]](sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            op, depth, secs = line.split()
            elapsed, lat = turn(op, int(depth), float(secs))
            out = " ".join(map(str, [elapsed] + lat))
        except Exception as e:
            out = "error " + " ".join(str(e).split())
        print(out, flush=True)


if __name__ == "__main__":
    main()
