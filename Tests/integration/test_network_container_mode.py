"""`--network container:X` (docs/networking.md): the new container joins the running container X's
network namespace and gets X's /etc/hosts, /etc/resolv.conf and host name, as Docker does; moby's
refusals. Through the docker CLI and raw HTTP, rootless and as root."""
import pytest

from containerkit import BOTH, ROOTLESS

DAEMON = "Error response from daemon: "
SERVE = "mkdir -p /w; echo hello-from-x > /w/index.html; exec httpd -f -p 8080 -h /w"


@BOTH
def test_joined_container_reaches_x_on_loopback_and_has_its_files(engine):
    x = engine.run_id("--name", "xx", "--hostname", "xhost", "busybox", "sh", "-c", SERVE)
    out = engine.cli.out("run", "--rm", "--network", "container:xx", "busybox", "sh", "-c",
                         "wget -q -O - http://127.0.0.1:8080/; hostname; echo ---; cat /etc/hosts; echo ---; "
                         "cat /etc/resolv.conf; echo ---; ls /sys/class/net")
    fetched, hosts, resolv, links = out.split("---\n")
    assert fetched == "hello-from-x\nxhost\n", fetched
    x_files = engine.cli.out("exec", "xx", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; "
                                                        "ls /sys/class/net").split("---\n")
    assert [hosts, resolv, links] == x_files
    # by id too; inspect shows the mode as given, the host name as X's, and no network of its own
    joined = engine.run_id("--name", "jj", "--network", "container:" + x[:12], "busybox", "sleep", "300")
    info = engine.cli.inspect("jj")
    assert info["HostConfig"]["NetworkMode"] == "container:" + x[:12]
    assert info["Config"]["Hostname"] == "xhost"
    assert info["NetworkSettings"]["Networks"] == {}
    assert engine.cli.out("exec", joined, "wget", "-q", "-O", "-", "http://127.0.0.1:8080/") == "hello-from-x\n"


@ROOTLESS
def test_container_mode_is_refused_as_moby_refuses_it(engine):
    engine.run_id("--name", "xx", "busybox", "sleep", "300")
    cases = [(["--network", "container:xx", "-p", "8081:80"], "conflicting options: port publishing and the container type network mode"),
             (["--network", "container:xx", "--hostname", "h"], "conflicting options: hostname and the network mode"),
             (["--network", "container:xx", "--dns", "1.1.1.1"], "conflicting options: dns and the network mode"),
             (["--network", "container:xx", "--add-host", "a:1.2.3.4"], "conflicting options: custom host-to-IP mapping and the network mode"),
             (["--network", "container:xx", "--expose", "80"], "conflicting options: port exposing and the container type network mode"),
             (["--network", "container:"], "Invalid network mode: invalid container format container:<name|id>")]
    for args, message in cases:
        result = engine.cli("run", "--rm", *args, "busybox", "true", ok=False)
        assert result.returncode == 125 and DAEMON + message in result.stderr, (args, result.stderr)
    # X not running: 409 at start (moby's), the container stays created
    engine.cli("create", "--name", "yy", "busybox", "true")
    engine.cli("create", "--name", "j1", "--network", "container:yy", "busybox", "true")
    status, message = engine.api.message("POST", "/containers/j1/start")
    assert (status, message) == (409, "cannot join network of a non running container: yy")
    assert engine.cli.fmt("j1", "{{.State.Status}}") == "created"
    # X missing: created (as moby), 404 at start
    engine.cli("create", "--name", "j2", "--network", "container:nosuch", "busybox", "true")
    status, message = engine.api.message("POST", "/containers/j2/start")
    assert (status, message) == (404, "No such container: nosuch")
