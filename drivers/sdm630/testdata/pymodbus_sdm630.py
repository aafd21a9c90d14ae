#!/usr/bin/env python3
"""Serve an Eastron SDM630 register map with pymodbus, for the Go interop test.

Usage: pymodbus_sdm630.py PORT

Serves FC04 input registers on 127.0.0.1:PORT, any unit id, with the float32
values below (high word first, as docs/registers.md says). Prints "ready"
once it listens. Written for pymodbus 3.0 (Debian bookworm's
python3-pymodbus); falls back to the 2.x API.
"""
import asyncio
import struct
import sys

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)

# register -> value; the Go test asserts these.
VALUES = {
    0x0000: 230.25, 0x0002: 229.5, 0x0004: 231.0,        # V
    0x0006: 16.0625, 0x0008: 0.0, 0x000A: 15.5,          # A
    0x000C: 3698.5, 0x000E: 0.0, 0x0010: -3580.25,       # W
    0x0034: 118.25,                                      # W
    0x0046: 49.984375,                                   # Hz
    0x0048: 12345.6875,                                  # kWh
    0x0156: 23456.5,                                     # kWh
}


def registers():
    regs = [0] * 0x160
    for addr, value in VALUES.items():
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        regs[addr], regs[addr + 1] = hi, lo
    return regs


def context():
    slave = ModbusSlaveContext(ir=ModbusSequentialDataBlock(0, registers()), zero_mode=True)
    return ModbusServerContext(slaves=slave, single=True)


async def serve3(port):
    from pymodbus.server import StartAsyncTcpServer
    server = await StartAsyncTcpServer(context=context(), address=("127.0.0.1", port), defer_start=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print("ready", flush=True)
    await task


def main():
    port = int(sys.argv[1])
    try:
        from pymodbus.server import StartAsyncTcpServer  # noqa: F401  (3.x)
    except ImportError:
        from pymodbus.server.sync import StartTcpServer  # 2.x
        print("ready", flush=True)  # 2.x gives no hook; the client retries
        StartTcpServer(context(), address=("127.0.0.1", port))
        return
    asyncio.run(serve3(port))


if __name__ == "__main__":
    main()
