"""An echo server and client on asyncio streams, for mptcpize's runtime tests
(tests/runtimes.rs).

    python3 asyncio_echo.py serve PORT        echoes every connection on 127.0.0.1:PORT,
                                              printing "listening" once ready
    python3 asyncio_echo.py send PORT IN OUT  sends IN's bytes and writes what comes back to
                                              OUT, prints "echoed N", then keeps the
                                              connection open until stdin ends
"""

import asyncio
import sys


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def serve(port):
    server = await asyncio.start_server(echo, "127.0.0.1", port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


async def send(port, source, out):
    data = open(source, "rb").read()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def write_all():
        writer.write(data)
        await writer.drain()

    # Written and read at once: the echo comes back while the rest is still being sent.
    _, received = await asyncio.gather(write_all(), reader.readexactly(len(data)))
    open(out, "wb").write(received)
    print(f"echoed {len(received)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        asyncio.run(serve(int(sys.argv[2])))
    elif sys.argv[1:2] == ["send"] and len(sys.argv) == 5:
        asyncio.run(send(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    else:
        sys.exit(__doc__)
