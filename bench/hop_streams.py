#!/usr/bin/env python3
"""Streams for the server-hop benchmark (bench/hop.sh); Python stdlib only.

    hop_streams.py upstream PORT_FILE EVENTS
        An HTTP/1.1 server on 127.0.0.1 (a free port, written to PORT_FILE)
        that answers every request with a chunked text/event-stream of
        EVENTS OpenAI chat.completion.chunk events, one a second, then
        `data: [DONE]`.

    hop_streams.py clients URL N EVENTS
        Opens N connections to URL at once, POSTs a streaming chat request on
        each and reads every stream to its end. Prints
        SLOW clients=N ok=.. refused=.. failed=.. events_min=.. events_max=..
        open_s=.. wall_s=..
        ok counts streams that got all EVENTS events and [DONE].

    hop_streams.py ttfe TOOL URL MODEL N [HEADER]...
        N streamed chat requests (model MODEL) one after another on one
        kept-alive connection; times the first event (the first blank line
        after a `data:` line) and the end of each answer. Prints
        STREAM tool=TOOL case=stream n=N events=.. first_median_us=..
        first_p99_us=.. last_median_us=.. last_p99_us=..
        One client for every contender, so their figures compare.
"""
import asyncio
import socket
import statistics
import json
import sys
import time
import urllib.parse

BODY = json.dumps({"model": "gpt-4o-mini", "stream": True,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


async def serve(reader, writer, events):
    try:
        # The head, then a body of content-length bytes (all our clients send one).
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(events):
            ev = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 0,
                  "model": "gpt-4o-mini",
                  "choices": [{"index": 0, "delta": {"content": "t%d " % i}, "finish_reason": None}]}
            writer.write(chunk(b"data: " + json.dumps(ev).encode() + b"\n\n"))
            await writer.drain()
            await asyncio.sleep(1)
        writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def upstream(port_file, events):
    server = await asyncio.start_server(lambda r, w: serve(r, w, events), "127.0.0.1", 0,
                                        backlog=4096)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


async def one(url, events, stats, opened):
    u = urllib.parse.urlsplit(url)
    try:
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
    except ConnectionRefusedError:
        stats["refused"] += 1
        return
    except OSError:
        stats["failed"] += 1
        return
    opened.append(time.monotonic())
    try:
        writer.write(b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (u.path.encode(), u.hostname.encode(),
                                                        u.port, len(BODY), BODY))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            stats["failed"] += 1
            if head.startswith(b"HTTP/1.1 503"):
                stats["refused"] += 1
            return
        buf = bytearray()
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buf += data
            # The chunked body's last chunk, after the [DONE] event.
            if buf.endswith(b"\r\n0\r\n\r\n") and b"data: [DONE]" in buf:
                break
        n, done = buf.count(b"data: {"), b"data: [DONE]" in buf
        stats["events"].append(n)
        if done and n >= events:
            stats["ok"] += 1
        else:
            stats["failed"] += 1
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        stats["failed"] += 1
    finally:
        writer.close()


async def clients(url, n, events):
    stats = {"ok": 0, "refused": 0, "failed": 0, "events": []}
    opened = []
    t0 = time.monotonic()
    await asyncio.gather(*(one(url, events, stats, opened) for _ in range(n)))
    wall = time.monotonic() - t0
    ev = stats["events"] or [0]
    print("SLOW clients=%d ok=%d refused=%d failed=%d events_min=%d events_max=%d "
          "open_s=%.2f wall_s=%.1f" % (n, stats["ok"], stats["refused"], stats["failed"],
                                       min(ev), max(ev),
                                       (max(opened) - t0) if opened else 0, wall))


class Conn:
    """One kept-alive HTTP/1.1 connection, blocking."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def stream(self, request):
        """Sends REQUEST; returns (first event ns, end ns, events)."""
        t0 = time.perf_counter_ns()
        self.sock.sendall(request)
        status = self.line()
        if b" 200 " not in status + b" ":
            raise RuntimeError("status: %r" % status)
        length, chunked = None, False
        while True:
            h = self.line()
            if not h:
                break
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        first, text = None, bytearray()

        def feed(piece):
            nonlocal first
            text.extend(piece)
            if first is None and b"data:" in text and b"\n\n" in text[text.find(b"data:"):]:
                first = time.perf_counter_ns()

        if chunked:
            while True:
                size = int(self.line().split(b";")[0], 16)
                if size == 0:
                    self.line()
                    break
                feed(self.exactly(size))
                self.exactly(2)
        elif length is not None:
            while length > 0:
                if not self.buf:
                    self.fill()
                piece, self.buf = self.buf[:length], self.buf[length:]
                length -= len(piece)
                feed(piece)
        else:
            raise RuntimeError("a body with neither content-length nor chunks")
        end = time.perf_counter_ns()
        events = sum(1 for ev in bytes(text).split(b"\n\n") if b"data:" in ev)
        return (first or end) - t0, end - t0, events


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def ttfe(tool, url, model, n, headers):
    u = urllib.parse.urlsplit(url)
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "Write a haiku about benchmarks."}]}).encode()
    extra = b"".join(h.encode() + b"\r\n" for h in headers)
    request = (b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
               b"authorization: Bearer sk-bench\r\n%scontent-length: %d\r\n\r\n%s"
               % (u.path.encode(), u.hostname.encode(), u.port, extra, len(body), body))
    conn = Conn(u.hostname, u.port)
    firsts, lasts, events = [], [], 0
    for i in range(n + 2):  # two warm-up requests
        f, l, events = conn.stream(request)
        if i >= 2:
            firsts.append(f / 1000)
            lasts.append(l / 1000)
    print("STREAM tool=%s case=stream n=%d events=%d first_median_us=%.2f first_p99_us=%.2f "
          "last_median_us=%.2f last_p99_us=%.2f" % (tool, n, events, statistics.median(firsts),
                                                   pct(firsts, 99), statistics.median(lasts),
                                                   pct(lasts, 99)))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "upstream":
        asyncio.run(upstream(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 5 and sys.argv[1] == "clients":
        asyncio.run(clients(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    elif len(sys.argv) >= 6 and sys.argv[1] == "ttfe":
        ttfe(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
