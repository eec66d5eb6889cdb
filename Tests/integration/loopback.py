"""A loopback TCP -> unix socket forwarder for clients that speak HTTP only over TCP (schemathesis):

    with Forwarder(socket_path) as forward:
        forward.url            # "http://127.0.0.1:PORT"

Every TCP connection accepted on 127.0.0.1:<free port> gets a connection of its own to the unix
socket, and bytes are copied both ways until either side closes (a half-close is passed on, so a
client that shuts down its write side still reads the whole answer). It is a test tool, not a
listener of the service's: the service still only listens on its unix socket.
"""
import socket
import threading


class Forwarder:
    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.refused = 0          # TCP connections whose unix connect failed (the service was gone)
        self._open = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self._lock:
            sockets = list(self._open)
        for s in sockets:
            try:
                s.close()
            except OSError:
                pass
        self._thread.join(5)

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.socket_path)
            except OSError:
                self.refused += 1
                client.close()
                upstream.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            pair = {"left": 2}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target, pair), daemon=True).start()

    def _pump(self, source, target, pair):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # The second pump to finish closes both sockets.
        with self._lock:
            pair["left"] -= 1
            done = pair["left"] == 0
        if done:
            for s in (source, target):
                with self._lock:
                    self._open.discard(s)
                try:
                    s.close()
                except OSError:
                    pass
