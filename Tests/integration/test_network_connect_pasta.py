"""`docker network connect` of a container whose default network is pasta's (docs/networking.md,
"Connect and disconnect"): pasta names the container's interface like the host's, and the
user-defined networks come as eth1, eth2 ... beside it, without a default route; before the start
(the monitor attaches them before pasta starts) and while it runs. Rootless (pasta is the
rootless command)."""
import os

import pytest

from containerkit import ROOTLESS
from test_network_connect import interfaces
from test_network_join import serve


@pytest.fixture
def service_env(run_dir_base, user, workdir):
    conf = os.path.join(workdir, "pasta.conf")
    with open(conf, "w") as f:
        f.write('[network]\ndefault_rootless_network_cmd = "pasta"\n')
    os.chown(conf, user.uid, user.gid)
    env = {"CONTAINERS_CONF_OVERRIDE": conf}
    if run_dir_base:
        env["XDG_RUNTIME_DIR"] = run_dir_base
    return env


@ROOTLESS
def test_a_pasta_container_connected_before_and_after_its_start(engine):
    cli = engine.cli
    cli("network", "create", "--subnet", "10.79.0.0/24", "pastanet")
    serve(engine, "server", "pastanet")
    cli("create", "--name", "before", "busybox", "sleep", "300")
    cli("network", "connect", "pastanet", "before")
    cli("start", "before")
    names = interfaces(engine, "before")
    assert "eth1" in names and len([n for n in names if n != "lo"]) == 2, names
    route = cli.out("exec", "before", "ip", "route")
    assert "default via 10.79.0.1" not in route and "10.79.0.0/24 dev eth1" in route, route
    assert cli.out("exec", "before", "nc", "-w", "3", "10.79.0.2", "8000").strip() == "pong server"
    cli("run", "-d", "--name", "after", "busybox", "sleep", "300")
    cli("network", "connect", "pastanet", "after")
    assert cli.out("exec", "after", "nc", "-w", "3", "10.79.0.2", "8000").strip() == "pong server"
    cli("network", "disconnect", "pastanet", "after")
    assert "eth1" not in interfaces(engine, "after")
    cli("rm", "-f", "server", "before", "after")
    cli("network", "rm", "pastanet")
