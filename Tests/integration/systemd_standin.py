"""A stand-in for systemd's manager on a private D-Bus bus, for test_cgroups_systemd.py (this
machine has no systemd as PID 1 and no user manager).

It owns org.freedesktop.systemd1 on the bus at --address and answers what Skiff's systemd
cgroup manager asks, as systemd would:
- Subscribe: nothing to do.
- StartTransientUnit(name, mode, properties, aux) of a `.scope`: makes the scope's cgroup at
  <root>/<slice's directory>/<name> on the unified hierarchy (`user.slice` -> user.slice/,
  `a-b.slice` -> a.slice/a-b.slice/), moves each of `PIDs` into it, replies with a job path and
  sends JobRemoved(id, job, name, "done"). An existing unit: org.freedesktop.systemd1.UnitExists.
- StopUnit(name, mode): kills what is left (cgroup.kill), removes the cgroup, replies and sends
  JobRemoved. An unknown unit: org.freedesktop.systemd1.NoSuchUnit.
- A scope whose cgroup empties ends by itself (systemd's garbage collection), checked every 50 ms.

Every call is appended to --record as one JSON line: the member, the body's signature and each
argument decoded from the wire by this file's own reader (which knows nothing of Skiff's encoder),
variants as {"type": signature, "value": ...}. The D-Bus wire code here is the specification's
marshalling for the types these calls use, little-endian.
"""
import argparse
import json
import os
import select
import socket
import struct
import sys
import time

ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "s": 4, "o": 4, "g": 1,
         "a": 4, "(": 8, "{": 8, "v": 1}


def first_type(sig):
    c = sig[0]
    if c == "a":
        return "a" + first_type(sig[1:])
    if c in "({":
        close = ")" if c == "(" else "}"
        i = 1
        while sig[i] != close:
            i += len(first_type(sig[i:]))
        return sig[:i + 1]
    return c


def split_types(sig):
    out = []
    while sig:
        t = first_type(sig)
        out.append(t)
        sig = sig[len(t):]
    return out


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def align(self, n):
        self.pos = (self.pos + n - 1) // n * n

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        self.align(size)
        value = struct.unpack_from("<" + fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def read(self, sig):
        c = sig[0]
        if c == "y":
            value = self.data[self.pos]
            self.pos += 1
            return value
        if c == "b":
            value = self.unpack("I")
            if value not in (0, 1):
                raise ValueError(f"boolean {value}")
            return bool(value)
        if c in "iuxtnq":
            return self.unpack({"i": "i", "u": "I", "x": "q", "t": "Q", "n": "h", "q": "H"}[c])
        if c in "so":
            n = self.unpack("I")
            text = self.data[self.pos:self.pos + n].decode()
            if self.data[self.pos + n] != 0:
                raise ValueError("string without its nul")
            self.pos += n + 1
            return text
        if c == "g":
            n = self.data[self.pos]
            text = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += n + 2
            return text
        if c == "v":
            inner = self.read("g")
            return {"type": inner, "value": self.read(inner)}
        if c == "a":
            n = self.unpack("I")
            self.align(ALIGN[sig[1]])
            end = self.pos + n
            items = []
            while self.pos < end:
                items.append(self.read(sig[1:]))
            if self.pos != end:
                raise ValueError("array length mismatch")
            return items
        if c in "({":
            self.align(8)
            return [self.read(t) for t in split_types(sig[1:-1])]
        raise ValueError(f"type {c}")


class Writer:
    def __init__(self):
        self.data = bytearray()

    def align(self, n):
        while len(self.data) % n:
            self.data.append(0)

    def pack(self, fmt, value):
        self.align(struct.calcsize(fmt))
        self.data += struct.pack("<" + fmt, value)

    def write(self, sig, value):
        c = sig[0]
        if c == "y":
            self.data.append(value)
        elif c == "b":
            self.pack("I", 1 if value else 0)
        elif c in "iuxt":
            self.pack({"i": "i", "u": "I", "x": "q", "t": "Q"}[c], value)
        elif c in "so":
            raw = value.encode()
            self.pack("I", len(raw))
            self.data += raw + b"\0"
        elif c == "g":
            raw = value.encode()
            self.data.append(len(raw))
            self.data += raw + b"\0"
        elif c == "v":
            inner, inner_value = value
            self.write("g", inner)
            self.write(inner, inner_value)
        elif c == "a":
            self.pack("I", 0)
            at = len(self.data) - 4
            self.align(ALIGN[sig[1]])
            start = len(self.data)
            for item in value:
                self.write(sig[1:], item)
            struct.pack_into("<I", self.data, at, len(self.data) - start)
        elif c in "({":
            self.align(8)
            for t, v in zip(split_types(sig[1:-1]), value):
                self.write(t, v)
        else:
            raise ValueError(f"type {c}")


FIELDS = {1: "path", 2: "interface", 3: "member", 4: "error_name", 5: "reply_serial", 6: "destination",
          7: "sender", 8: "signature"}
FIELD_TYPES = {"path": "o", "interface": "s", "member": "s", "error_name": "s", "reply_serial": "u",
               "destination": "s", "sender": "s", "signature": "g"}


class Bus:
    def __init__(self, address):
        path = dict(kv.split("=", 1) for kv in address.split(":", 1)[1].split(","))["path"]
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        answer = b""
        while not answer.endswith(b"\r\n"):
            answer += self.sock.recv(256)
        if not answer.startswith(b"OK "):
            raise SystemExit(f"stand-in: bus refused auth: {answer!r}")
        self.sock.sendall(b"BEGIN\r\n")
        self.buffer = b""
        self.serial = 0
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "RequestName",
                  "su", ["org.freedesktop.systemd1", 4])

    def send(self, kind, fields, signature="", body=()):
        self.serial += 1
        w = Writer()
        for t, v in zip(split_types(signature), body):
            w.write(t, v)
        if signature:
            fields = dict(fields, signature=signature)
        header = Writer()
        header.data += bytes([ord("l"), kind, 0, 1])
        header.pack("I", len(w.data))
        header.pack("I", self.serial)
        items = [(code, (FIELD_TYPES[name], fields[name])) for code, name in FIELDS.items() if name in fields]
        header.write("a(yv)", items)
        header.align(8)
        self.sock.sendall(bytes(header.data) + bytes(w.data))
        return self.serial

    def call(self, destination, path, interface, member, signature="", body=()):
        serial = self.send(1, {"destination": destination, "path": path, "interface": interface, "member": member},
                           signature, body)
        while True:
            message = self.receive()
            if message["fields"].get("reply_serial") == serial:
                if message["kind"] == 3:
                    raise SystemExit(f"stand-in: {member}: {message['fields'].get('error_name')} {message['body']}")
                return message

    def receive(self, timeout=None):
        while True:
            if len(self.buffer) >= 16:
                body_length, _, fields_length = struct.unpack_from("<III", self.buffer, 4)
                total = 16 + (fields_length + 7) // 8 * 8 + body_length
                if len(self.buffer) >= total:
                    data, self.buffer = self.buffer[:total], self.buffer[total:]
                    return self.decode(data)
            if timeout is not None:
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit(0)
            self.buffer += chunk

    @staticmethod
    def decode(data):
        if data[0:1] != b"l":
            raise ValueError("big-endian message")
        r = Reader(data)
        r.pos = 4
        r.unpack("I")
        serial = r.unpack("I")
        fields = {FIELDS.get(code, str(code)): value["value"] for code, value in r.read("a(yv)")}
        r.align(8)
        body_reader = Reader(data[r.pos:])
        signature = fields.get("signature", "")
        body = [body_reader.read(t) for t in split_types(signature)]
        if body_reader.pos != len(body_reader.data):
            raise ValueError(f"{len(body_reader.data) - body_reader.pos} bytes after the body")
        return {"kind": data[1], "serial": serial, "fields": fields, "body": body}


def slice_directory(name):
    parts = name[:-len(".slice")].split("-")
    return "/".join("-".join(parts[:i + 1]) + ".slice" for i in range(len(parts)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--root", required=True, help="the manager's root cgroup (a directory of the cgroup2 mount)")
    parser.add_argument("--record", required=True)
    parser.add_argument("--ready", required=True, help="file written once the name is owned")
    args = parser.parse_args()
    bus = Bus(args.address)
    with open(args.ready, "w") as f:
        f.write(str(os.getpid()))
    units = {}
    jobs = [0]

    def record(entry):
        with open(args.record, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(message, signature="", body=()):
        bus.send(2, {"reply_serial": message["serial"], "destination": message["fields"]["sender"]}, signature, body)

    def error(message, name, text):
        bus.send(3, {"reply_serial": message["serial"], "destination": message["fields"]["sender"], "error_name": name},
                 "s", [text])

    def job_done(name):
        jobs[0] += 1
        path = f"/org/freedesktop/systemd1/job/{jobs[0]}"
        return path, lambda: bus.send(4, {"path": "/org/freedesktop/systemd1", "interface": "org.freedesktop.systemd1.Manager",
                                          "member": "JobRemoved"}, "uoss", [jobs[0], path, name, "done"])

    def remove(directory):
        for _ in range(200):
            try:
                os.rmdir(directory)
                return
            except FileNotFoundError:
                return
            except OSError:
                try:
                    with open(f"{directory}/cgroup.kill", "w") as f:
                        f.write("1")
                except OSError:
                    pass
                time.sleep(0.01)

    while True:
        message = bus.receive(timeout=0.05)
        # systemd ends a scope whose cgroup is empty.
        for name, directory in list(units.items()):
            try:
                with open(f"{directory}/cgroup.events") as f:
                    populated = "populated 1" in f.read()
            except OSError:
                populated = False
            if not populated:
                remove(directory)
                del units[name]
                record({"event": "scope ended (empty)", "unit": name})
        if message is None or message["kind"] != 1:
            continue
        fields = message["fields"]
        member = fields.get("member")
        entry = {"member": member, "interface": fields.get("interface"), "path": fields.get("path"),
                 "signature": fields.get("signature", ""), "args": message["body"]}
        record(entry)
        if fields.get("interface") != "org.freedesktop.systemd1.Manager":
            error(message, "org.freedesktop.DBus.Error.UnknownInterface", f"Unknown interface {fields.get('interface')}")
            continue
        if member == "Subscribe":
            reply(message)
        elif member == "StartTransientUnit" and fields.get("signature") == "ssa(sv)a(sa(sv))":
            name, _mode, properties, _aux = message["body"]
            if name in units:
                error(message, "org.freedesktop.systemd1.UnitExists", f"Unit {name} was already loaded or has a fragment file.")
                continue
            props = {key: value for key, value in properties}
            slice_name = props.get("Slice", {}).get("value", "system.slice")
            directory = os.path.join(args.root, slice_directory(slice_name), name)
            os.makedirs(os.path.dirname(directory), exist_ok=True)
            os.mkdir(directory)
            for pid in props.get("PIDs", {}).get("value", []):
                with open(f"{directory}/cgroup.procs", "w") as f:
                    f.write(str(pid))
            units[name] = directory
            path, done = job_done(name)
            reply(message, "o", [path])
            done()
        elif member == "StopUnit" and fields.get("signature") == "ss":
            name = message["body"][0]
            if name not in units:
                error(message, "org.freedesktop.systemd1.NoSuchUnit", f"Unit {name} not loaded.")
                continue
            remove(units.pop(name))
            path, done = job_done(name)
            reply(message, "o", [path])
            done()
        else:
            error(message, "org.freedesktop.DBus.Error.UnknownMethod", f"Unknown method {member} or signature")


if __name__ == "__main__":
    sys.exit(main())
