"""docker-compose (Debian's 1.29.2) on a two-service project on its default network
(docs/networking.md): compose makes `<project>_default` (a user-defined network), a busybox httpd
service publishes a port the host reaches, a client service fetches from it by its service name
(the network's DNS responder), `ps` and `logs` show both, `down -v` leaves nothing, and a second
project with the same service names at the same time does not collide. Traffic stays on loopback
and in the test's own namespaces."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from containerkit import wait_for
from test_network_join import keepers
from test_networking import _bindable as bindable, free_port, http_get

PROJECT = """\
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo hello-from-web-{project} > /w/index.html && exec httpd -f -p 8080 -h /w"]
    ports:
      - "127.0.0.1:{port}:8080"
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do printf 'GET /index.html HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc web 8080 | tail -n 1; sleep 0.5; done"]
"""


class Project:
    def __init__(self, engine, name, port):
        self.engine, self.name, self.port = engine, name, port
        self.down = False       # `down -v` done: remove() need not run it again
        self.directory = tempfile.mkdtemp(prefix=f"skiff-compose-{name}-")
        os.chmod(self.directory, 0o755)
        pathlib.Path(self.directory, "docker-compose.yml").write_text(PROJECT.format(project=name, port=port))

    def __call__(self, *args, check=True):
        result = subprocess.run(self.engine.user.command(["docker-compose", "-f", f"{self.directory}/docker-compose.yml",
                                                          "-p", self.name, *args], self.engine.cli.env),
                                capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, f"docker-compose {' '.join(args)} -> {result.returncode}: {result.stderr}{result.stdout}"
        if args == ("down", "-v") and result.returncode == 0:
            self.down = True
        return result.stdout + result.stderr

    def remove(self):
        if not self.down:
            self("down", "-v", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


def test_two_projects_with_the_same_services_on_their_default_networks(engine):
    one, two = Project(engine, "cnetone", free_port()), Project(engine, "cnettwo", free_port())
    try:
        one("up", "-d")
        two("up", "-d")
        # The host reaches each project's web through its own published port.
        assert "hello-from-web-cnetone" in http_get(one.port, "/index.html")
        assert "hello-from-web-cnettwo" in http_get(two.port, "/index.html")
        # Each client reaches its own project's web by the service name.
        for project in (one, two):
            def fetched(project=project):
                out = project("logs", "--no-color", "client")
                return out if f"hello-from-web-{project.name}" in out else ""
            # The client's logs once it fetched from its web (one docker-compose call, ~3 s here,
            # for the wait and the check on the other project's page alike).
            logs = wait_for(fetched, 30, what=f"{project.name}'s client to fetch from web by name")
            assert f"hello-from-web-{'cnettwo' if project is one else 'cnetone'}" not in logs
            listed = project("ps")
            assert f"{project.name}_web_1" in listed and f"{project.name}_client_1" in listed, listed
            assert len(re.findall(r"\bUp\b", listed)) >= 2, listed
        networks = engine.cli.out("network", "ls", "--format", "{{.Name}}").split()
        assert "cnetone_default" in networks and "cnettwo_default" in networks, networks
        # down -v: no container, network or port left, and the keeper goes with the last container.
        one("down", "-v")
        two("down", "-v")
        assert engine.cli.out("ps", "-aq", "--filter", "label=com.docker.compose.project=cnetone") == ""
        assert engine.cli.out("ps", "-aq", "--filter", "label=com.docker.compose.project=cnettwo") == ""
        networks = engine.cli.out("network", "ls", "--format", "{{.Name}}").split()
        assert "cnetone_default" not in networks and "cnettwo_default" not in networks, networks
        wait_for(lambda: bindable(one.port) and bindable(two.port), 10, what="the published ports to be released")
        wait_for(lambda: keepers(engine) == [], 15, what="the network keeper to end after the last container")
    finally:
        one.remove()
        two.remove()
