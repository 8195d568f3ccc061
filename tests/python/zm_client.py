#!/usr/bin/env python3
"""zm_client.py - a zmicro RPC client written from docs/protocol.md alone.

It proves the wire protocol page is enough for a third party: nothing here
comes from the C sources. Needs only pyzmq and msgpack
(Debian: apt-get install python3-zmq python3-msgpack).

    zm_client.py ENDPOINT SERVICE ENDPOINT_NAME JSON_BODY [--timeout MS] [--meta k=v]...
    zm_client.py --ping ENDPOINT [--timeout MS]

ENDPOINT is a node's RPC socket, e.g. tcp://127.0.0.1:7000. JSON_BODY is the
request arguments as JSON; they travel as msgpack. The reply is printed as
JSON on stdout (exit 0); an ERROR, a timeout or a malformed answer is printed
as an error map in JSON on stderr (exit 1). Bad usage exits 2. Binary values,
which JSON cannot hold, print as {"$bin": "<base64>"} (docs/codecs.md).
"""
import argparse
import base64
import json
import os
import struct
import sys
import time

import msgpack
import zmq

# Section 3: frame 0 is "ZM" + version byte 1.
SIGNATURE = b"ZM\x01"
# Section 4: command bytes.
REQUEST, REPLY, ERROR, CANCEL, PING, PONG = 0x01, 0x02, 0x03, 0x04, 0x40, 0x41
EMPTY_MAP = b"\x80"
MSGPACK = "application/msgpack"
MAX_TIMEOUT = 3_600_000  # section 7: one hour


class RpcError(Exception):
    """An error map (section 9): id, code, detail, status, err."""

    def __init__(self, error):
        super().__init__(f"{error.get('code')} {error.get('detail', '')}")
        self.error = error


def local_error(code, detail, err=None):
    """An error that did not come from the server, in the same shape."""
    error = {"id": "zm_client", "code": code, "detail": detail}
    if err is not None:
        error["err"] = err
    return RpcError(error)


def error_from_body(body):
    """Decode an ERROR body; enforce what section 9 calls a valid error map."""
    try:
        error = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:
        error = None
    valid = isinstance(error, dict)
    if valid:
        code = error.get("code")
        valid = isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599
        for key, value in error.items():
            if key in ("id", "detail", "status") and value is not None \
                    and not isinstance(value, str):
                valid = False
    if not valid:
        # What a zmicro client reports: ZM_EPROTO (11), code 400.
        return local_error(400, "malformed ERROR body", err=11)
    error.setdefault("id", "")
    error.setdefault("detail", "")
    return RpcError(error)


def content_type_base(content_type):
    """Section 5.1: case-insensitive, parameters after ';' ignored."""
    return content_type.split(";", 1)[0].strip().lower()


class Client:
    def __init__(self, endpoint):
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # docs/security.md: "tcp://host:port#KEY" is a CURVE server whose
        # public key is KEY; we present a keypair of our own.
        endpoint, sep, server_key = endpoint.partition("#")
        if sep:
            public, secret = zmq.curve_keypair()
            self.sock.curve_publickey = public
            self.sock.curve_secretkey = secret
            self.sock.curve_serverkey = server_key.encode()
        self.sock.connect(endpoint)
        # Section 6: a random 64-bit start, incremented per attempt.
        self.corr = struct.unpack(">Q", os.urandom(8))[0]

    def close(self):
        self.sock.close(0)
        self.context.term()

    def _next_corr(self):
        self.corr = (self.corr + 1) % 2**64
        return self.corr

    def _send(self, command, corr, header, body):
        self.sock.send_multipart([SIGNATURE, bytes([command]), struct.pack(">Q", corr),
                                  header, body])

    def _wait(self, corr, answers, timeout_ms):
        """The first well-formed answer for corr among the given commands,
        or None at the deadline. Anything else is dropped (sections 6, 12)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(max(1, int(left * 1000))):
                return None
            frames = self.sock.recv_multipart()
            if (len(frames) != 5 or frames[0] != SIGNATURE or len(frames[1]) != 1
                    or len(frames[2]) != 8 or frames[1][0] not in answers
                    or struct.unpack(">Q", frames[2])[0] != corr):
                continue  # malformed, another version, or a late answer
            try:
                header = msgpack.unpackb(frames[3], raw=False, strict_map_key=False)
            except Exception:
                continue  # section 12 row 27: a malformed answer is dropped
            if not isinstance(header, dict) or not all(isinstance(k, str) for k in header):
                continue
            return frames[1][0], header, frames[4]

    def call(self, service, endpoint, args, timeout_ms=1000, metadata=None):
        """Section 5.1 REQUEST; returns the decoded REPLY body or raises RpcError."""
        if not 1 <= timeout_ms <= MAX_TIMEOUT:
            raise local_error(400, f"timeout must be 1..{MAX_TIMEOUT} ms", err=1)
        corr = self._next_corr()
        header = {"service": service, "endpoint": endpoint, "timeout": timeout_ms}
        if metadata:
            header["metadata"] = dict(metadata)  # str -> str
        self._send(REQUEST, corr, msgpack.packb(header, use_bin_type=True),
                   msgpack.packb(args, use_bin_type=True))
        answer = self._wait(corr, (REPLY, ERROR), timeout_ms)
        if answer is None:
            # Section 10: tell the server we gave up; it is never answered.
            self._send(CANCEL, corr, EMPTY_MAP, b"")
            raise local_error(408, f"{service}.{endpoint}: no answer in {timeout_ms} ms",
                              err=5)
        command, header, body = answer
        if command == ERROR:
            raise error_from_body(body)
        content_type = header.get("content_type") or MSGPACK
        if not isinstance(content_type, str):
            raise local_error(400, "REPLY content_type is not a string", err=11)
        base = content_type_base(content_type)
        if len(body) == 0:
            return None  # an empty body: no result
        try:
            if base == MSGPACK:
                return msgpack.unpackb(body, raw=False, strict_map_key=False)
            if base == "application/json":
                return json.loads(body)
            if base == "application/octet-stream":
                return body
        except Exception as e:
            raise local_error(400, f"cannot decode the {base} reply: {e}", err=12)
        raise local_error(400, f"reply in unknown content type {content_type}", err=12)

    def ping(self, timeout_ms=1000):
        """Section 10: PING with a fresh corr id; True when the PONG came back."""
        corr = self._next_corr()
        self._send(PING, corr, EMPTY_MAP, b"")
        return self._wait(corr, (PONG,), timeout_ms) is not None


def to_json(value):
    """msgpack values as JSON: binaries as {"$bin": base64}, other keys as text."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bin": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k if isinstance(k, str) else json.dumps(to_json(k)): to_json(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="zm_client.py", description="Call a zmicro service (docs/protocol.md).")
    parser.add_argument("--ping", action="store_true",
                        help="send a PING to ENDPOINT and wait for the PONG")
    parser.add_argument("--timeout", type=int, default=1000, metavar="MS",
                        help="deadline in milliseconds (default 1000)")
    parser.add_argument("--meta", action="append", default=[], metavar="K=V",
                        help="metadata pair sent with the call (repeatable)")
    parser.add_argument("endpoint",
                        help="tcp://host:port#KEY of a node's RPC socket (KEY: its public "
                             "key; without it, in the clear)")
    parser.add_argument("rest", nargs="*", metavar="SERVICE ENDPOINT_NAME JSON_BODY")
    args = parser.parse_args(argv)
    if args.ping and args.rest:
        parser.error("--ping takes only ENDPOINT")
    if not args.ping and len(args.rest) != 3:
        parser.error("expected ENDPOINT SERVICE ENDPOINT_NAME JSON_BODY")
    metadata = {}
    for pair in args.meta:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--meta wants k=v, not {pair!r}")
        metadata[key] = value
    args.metadata = metadata
    if not args.ping:
        try:
            args.body = json.loads(args.rest[2])
        except ValueError as e:
            parser.error(f"JSON_BODY is not JSON: {e}")
    return args


def main(argv):
    args = parse_args(argv)
    client = Client(args.endpoint)
    try:
        if args.ping:
            start = time.monotonic()
            if not client.ping(args.timeout):
                raise local_error(408, f"no PONG in {args.timeout} ms", err=5)
            rtt = (time.monotonic() - start) * 1000
            print(json.dumps({"pong": True, "ms": round(rtt, 3)}))
            return 0
        service, endpoint, _ = args.rest
        reply = client.call(service, endpoint, args.body, args.timeout, args.metadata)
        print(json.dumps(to_json(reply)))
        return 0
    except RpcError as e:
        print(json.dumps(to_json(e.error)), file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
