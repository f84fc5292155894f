"""A TCP relay that delays every byte by a fixed time in each direction: the stand-in for a
slow network link (`tc qdisc … netem delay`) where the kernel has no netem.

    python delay_relay.py --delay-ms 150 LISTEN_HOST:PORT=UPSTREAM_HOST:PORT ...

For each mapping it listens on LISTEN and, per accepted connection, opens one to UPSTREAM.
Every chunk read from either side is written to the other side `delay` after it was read, in
the order it was read; a half-close (EOF) travels the same way, delayed like data. The
connection itself is accepted at once (the kernel completes the handshake), so unlike netem
the delay does not slow connecting, only what is sent. It prints `ready` once every listener
is bound, and one line `accepted <listen port>` per connection, flushed, so a test can see
which links were used.
"""

import argparse
import asyncio
import sys


def parse_mapping(text):
    """`host:port=host:port` → ((host, port), (host, port))."""
    listen, upstream = text.split("=", 1)

    def addr(s):
        host, port = s.rsplit(":", 1)
        return host, int(port)

    return addr(listen), addr(upstream)


async def pipe(reader, writer, delay):
    """Copies `reader` to `writer`, each chunk held until `delay` after it was read. The
    reading never waits on the writing, so the delay adds latency, not a throughput limit."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, OSError):
        pass


async def relay(client_reader, client_writer, upstream, delay, port):
    print(f"accepted {port}", flush=True)
    try:
        up_reader, up_writer = await asyncio.open_connection(*upstream)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer, delay),
                         pipe(up_reader, client_writer, delay))
    for w in (up_writer, client_writer):
        w.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("mappings", nargs="+", type=parse_mapping)
    args = parser.parse_args()
    delay = args.delay_ms / 1000
    servers = []
    for (host, port), upstream in args.mappings:
        def handle(r, w, upstream=upstream, port=port):
            return relay(r, w, upstream, delay, port)

        servers.append(await asyncio.start_server(handle, host, port))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
