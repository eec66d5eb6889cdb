"""Issue 12, item 14: the API on TCP, only with mutual TLS (`skiff service -H tcp://ADDR:PORT
--tlsverify --tlscacert --tlscert --tlskey`, as dockerd), served by skiff-tls beside the service.

Clients: the docker CLI (`--tlsverify` with a client certificate) and docker-py's TLSConfig; a
client without a certificate, with one from another CA, or speaking plain HTTP to the TLS port is
refused. Plain TCP only with --insecure-plain-tcp, which warns. Certificates are made here with
openssl; every address is on loopback.
"""
import os
import signal
import socket
import ssl
import subprocess
import time

import docker
import pytest
import requests

from containerkit import ROOTLESS, Docker, Engine, children, skiff_run_dir, wait_for

REFUSED_PLAIN = ("refusing to serve the API on tcp://127.0.0.1:{port} without TLS: whoever can connect would "
                 "control this user's containers and run programs as this user. Give --tlsverify --tlscacert CA "
                 "--tlscert CERT --tlskey KEY (mutual TLS, as dockerd), or --insecure-plain-tcp to serve it "
                 "unauthenticated anyway")
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"


class Certificates:
    """A CA with a server certificate (127.0.0.1, localhost) and a client certificate, and a second
    CA with a client certificate of its own, as dockerd's TLS guide makes them (EC keys)."""

    def __init__(self, directory, user):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        for ca in ("ca", "otherca"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", f"{ca}-key.pem", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=skiff test {ca}",
                    cwd=directory)
        self._issue("server", "ca", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        self._issue("client", "ca", "clientAuth")
        self._issue("stranger", "otherca", "clientAuth")
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            os.chown(path, user.uid, user.gid)
            os.chmod(path, 0o600 if name.endswith("-key.pem") else 0o644)
        os.chown(directory, user.uid, user.gid)
        os.chmod(directory, 0o755)

    def _issue(self, name, ca, usage, extra=None):
        extensions = os.path.join(self.dir, f"{name}.ext")
        with open(extensions, "w") as f:
            f.write(f"extendedKeyUsage={usage}\n" + (extra + "\n" if extra else ""))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN=skiff test {name}", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", extensions, cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def server_args(self):
        return ["--tlsverify", "--tlscacert", self.path("ca.pem"), "--tlscert", self.path("server.pem"),
                "--tlskey", self.path("server-key.pem")]

    def cli_args(self, port, cert="client"):
        return ["--tlsverify", "--tlscacert", self.path("ca.pem"), "--tlscert", self.path(f"{cert}.pem"),
                "--tlskey", self.path(f"{cert}-key.pem"), "-H", f"tcp://127.0.0.1:{port}"]


@pytest.fixture
def certs(workdir, user):
    return Certificates(os.path.join(workdir, "certs"), user)


class TCPDocker(Docker):
    """The docker CLI as the service's user, on tcp:// with the given TLS flags."""

    def __init__(self, user, workdir, tls_args):
        super().__init__(user, workdir, "/nonexistent")
        self.env = {"DOCKER_CONFIG": f"{workdir}/docker-config"}
        self.tls_args = list(tls_args)

    def argv(self, *args):
        return self.user.command(["docker", *self.tls_args, *args], self.env)


@pytest.fixture
def tls_engine(user, workdir, start_service, service_env, run_dir_base, test_images, certs):
    port = free_port()
    engine = Engine(user, workdir, start_service, service_env, skiff_run_dir(user, run_dir_base),
                    test_images.busybox,
                    args=("--time", "0", "-H", f"tcp://127.0.0.1:{port}", *certs.server_args()))
    engine.load_busybox()
    engine.port = port
    engine.tcp = TCPDocker(user, workdir, certs.cli_args(port))
    yield engine
    engine.tcp.stop_all()
    engine.cleanup()


def service_result(user, skiff_binary, isolated_env, workdir, args):
    """`skiff service ARGS` expected to refuse to start: (exit status, stderr)."""
    env = dict(isolated_env)
    env["XDG_RUNTIME_DIR"] = workdir
    result = user.run([skiff_binary, "service", "--socket", os.path.join(workdir, "refused.sock"), *args], env)
    return result.returncode, result.stderr


@ROOTLESS
def test_tcp_without_tls_is_refused_and_names_the_flags(user, skiff_binary, isolated_env, workdir, certs):
    port = free_port()
    status, stderr = service_result(user, skiff_binary, isolated_env, workdir, ["-H", f"tcp://127.0.0.1:{port}"])
    assert status == 125
    assert stderr.strip() == "skiff: " + REFUSED_PLAIN.format(port=port)
    # Certificates without --tlsverify would take any client (dockerd's --tls): refused as well.
    status, stderr = service_result(user, skiff_binary, isolated_env, workdir,
                                    ["-H", f"tcp://127.0.0.1:{port}", "--tlscacert", certs.path("ca.pem"),
                                     "--tlscert", certs.path("server.pem"), "--tlskey", certs.path("server-key.pem")])
    assert status == 125
    assert stderr.strip() == ("skiff: TLS without --tlsverify would let any client in: add --tlsverify "
                              "(client certificates signed by --tlscacert)")
    # The same through the environment (SKIFF_HOST, as -H).
    env = dict(isolated_env, SKIFF_HOST=f"tcp://127.0.0.1:{port}")
    status, stderr = service_result(user, skiff_binary, env, workdir, [])
    assert status == 125
    assert stderr.strip() == "skiff: " + REFUSED_PLAIN.format(port=port)
    # A missing file is named, and nothing listens on the port afterwards.
    status, stderr = service_result(user, skiff_binary, isolated_env, workdir,
                                    ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", certs.path("ca.pem"),
                                     "--tlscert", certs.path("server.pem"), "--tlskey", certs.path("missing-key.pem")])
    assert status == 125
    assert stderr.startswith(f"skiff service: tcp listeners: skiff-tls: --tlskey {certs.path('missing-key.pem')}: "), stderr
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


@ROOTLESS
def test_insecure_plain_tcp_only_when_named_with_a_warning_and_no_cors(user, start_service, workdir):
    port = free_port()
    service = start_service(args=["--time", "0", "-H", f"tcp://127.0.0.1:{port}", "--insecure-plain-tcp"])
    assert service.errors().strip() == (
        f"skiff service: WARNING: serving the API on tcp://127.0.0.1:{port} WITHOUT TLS (--insecure-plain-tcp): "
        "anyone who can connect controls this user's containers and can run programs as this user")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"OK", response
    assert b"access-control" not in head.lower()


@ROOTLESS
def test_docker_cli_over_mutual_tls_version_run_and_streams(tls_engine, certs):
    cli = tls_engine.tcp
    version = cli.out("version", "--format", "{{.Server.APIVersion}}").strip()
    assert version == "1.44"
    assert cli.out("run", "--rm", tls_engine.busybox.ref, "echo", "over tls") == "over tls\n"
    # stdin to its end, then the output that follows it: the half-close crosses TLS (close_notify).
    result = cli("run", "--rm", "-i", tls_engine.busybox.ref, "sh", "-c", "cat; echo done", input="one\ntwo\n")
    assert result.stdout == "one\ntwo\ndone\n"
    # A follow stream and the attach of a running container, live.
    cli("run", "-d", "--name", "ticker", tls_engine.busybox.ref, "sh", "-c",
        "i=0; while [ $i -lt 300 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done")
    follower = cli.popen("logs", "-f", "ticker")
    first = follower.stdout.readline()
    assert first.startswith(b"tick "), first
    second = follower.stdout.readline()
    assert second.startswith(b"tick ") and second != first
    # `docker attach` to the running container: its upgraded stream, live.
    attached = cli.popen("attach", "--no-stdin", "ticker")
    first = attached.stdout.readline()
    assert first.startswith(b"tick "), first
    assert attached.stdout.readline().startswith(b"tick ")
    cli("rm", "-f", "ticker")
    assert follower.wait(timeout=20) == 0
    attached.wait(timeout=20)
    # The unix socket serves as before, beside the TCP listener.
    assert tls_engine.cli.out("version", "--format", "{{.Server.APIVersion}}").strip() == "1.44"


@ROOTLESS
def test_clients_without_the_right_certificate_or_tls_are_refused(tls_engine, certs, monkeypatch):
    # requests lets these variables override the CA that docker-py's TLSConfig sets on its session.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    port = tls_engine.port
    url = f"https://127.0.0.1:{port}"
    good = docker.DockerClient(base_url=url, tls=docker.tls.TLSConfig(
        client_cert=(certs.path("client.pem"), certs.path("client-key.pem")), ca_cert=certs.path("ca.pem"), verify=True))
    assert good.ping() is True
    assert good.version()["ApiVersion"] == "1.44"
    assert good.containers.run(tls_engine.busybox.ref, ["echo", "docker-py over tls"], remove=True) == \
        b"docker-py over tls\n"
    good.close()

    # docker-py without a client certificate: the handshake is refused.
    bare = docker.APIClient(base_url=url, tls=docker.tls.TLSConfig(ca_cert=certs.path("ca.pem"), verify=True),
                            version="1.44")
    with pytest.raises(requests.exceptions.RequestException) as refused:
        bare.ping()
    assert "TLSV13_ALERT_CERTIFICATE_REQUIRED" in str(refused.value), refused.value
    bare.close()

    # docker-py with a certificate from another CA.
    stranger = docker.APIClient(base_url=url, version="1.44", tls=docker.tls.TLSConfig(
        client_cert=(certs.path("stranger.pem"), certs.path("stranger-key.pem")), ca_cert=certs.path("ca.pem"),
        verify=True))
    with pytest.raises(requests.exceptions.RequestException) as refused:
        stranger.ping()
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(refused.value), refused.value
    stranger.close()

    # The docker CLI without a certificate, and with the other CA's.
    no_cert = TCPDocker(tls_engine.user, tls_engine.workdir,
                        ["--tlsverify", "--tlscacert", certs.path("ca.pem"), "-H", f"tcp://127.0.0.1:{port}"])
    result = no_cert.fails("version", "--format", "{{.Server.APIVersion}}")
    assert "remote error: tls: certificate required" in result.stderr, result.stderr
    other = TCPDocker(tls_engine.user, tls_engine.workdir, certs.cli_args(port, cert="stranger"))
    result = other.fails("version", "--format", "{{.Server.APIVersion}}")
    assert "remote error: tls: unknown certificate authority" in result.stderr, result.stderr

    # Plain HTTP to the TLS port: Go's (dockerd's) answer, and nothing reaches the API.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /containers/json HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    assert response == PLAIN_HTTP_ANSWER

    # A TLS client that does not check the server but has no certificate: still refused.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with context.wrap_socket(raw) as s:
                s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                assert s.recv(65536) == b""
    assert "TLS handshake" in tls_engine.service.errors()


@ROOTLESS
def test_socket_activated_tcp_socket_gets_tls(user, skiff_binary, isolated_env, workdir, certs):
    """systemd passes a unix and a TCP socket (LISTEN_FDS=2): the TCP one is served with TLS."""
    port = free_port()
    unix_path = os.path.join(workdir, "act", "skiff.sock")
    os.makedirs(os.path.dirname(unix_path))
    os.chown(os.path.dirname(unix_path), user.uid, user.gid)
    env = dict(isolated_env, XDG_RUNTIME_DIR=workdir)
    passed = [f"-E{name}" for name in sorted(env) if name.startswith(("XDG_", "CONTAINERS_"))]
    process = subprocess.Popen(
        user.command(["systemd-socket-activate", "-l", unix_path, "-l", f"127.0.0.1:{port}", *passed,
                      skiff_binary, "service", "--time", "1", *certs.server_args()], env),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for(lambda: os.path.exists(unix_path), timeout=10, what="systemd-socket-activate's socket")
        cli = TCPDocker(user, workdir, certs.cli_args(port))
        assert cli.out("version", "--format", "{{.Server.APIVersion}}").strip() == "1.44"
        # Plain HTTP on the activated TCP socket is refused as on a bound one.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            response = b""
            while chunk := s.recv(65536):
                response += chunk
        assert response == PLAIN_HTTP_ANSWER
        tls_frontends = [pid for pid in children(process.pid) if _is_skiff_tls(pid)]
        assert len(tls_frontends) == 1
        # The idle exit takes skiff-tls with it.
        assert process.wait(timeout=20) == 0, process.stderr.read()
        wait_for(lambda: not _is_skiff_tls(tls_frontends[0]), timeout=10, what="skiff-tls to exit with the service")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _is_skiff_tls(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"/skiff-tls")
