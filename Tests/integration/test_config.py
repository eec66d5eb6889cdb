"""`skiff config` and what a broken configuration does to the service."""
import os

from conftest import get

SEED_USER_FILE = """\
# copied from /usr/share/containers/containers.conf, SYS_CHROOT removed
[containers]

default_capabilities = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID"
]
"""


def write_user_file(user, workdir, text, name="containers.conf"):
    directory = os.path.join(workdir, "config", "containers")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    for d in (os.path.join(workdir, "config"), directory, path):
        os.chown(d, user.uid, user.gid)
    return path


def test_config_shows_the_seed_user_file_as_the_origin(user, skiff_binary, workdir, isolated_env):
    path = write_user_file(user, workdir, SEED_USER_FILE)
    result = user.run([skiff_binary, "config", "containers.default_capabilities"], isolated_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"file:{path}:4\tcontainers.default_capabilities=[\"CHOWN\", \"DAC_OVERRIDE\", "
                             "\"FOWNER\", \"FSETID\", \"KILL\", \"NET_BIND_SERVICE\", \"SETFCAP\", \"SETGID\", "
                             "\"SETPCAP\", \"SETUID\"]\n")


def test_config_without_files_shows_podmans_defaults(user, skiff_binary, workdir, isolated_env):
    env = dict(isolated_env, CONTAINERS_CONF=os.path.join(workdir, "empty.conf"))
    open(env["CONTAINERS_CONF"], "w").close()
    result = user.run([skiff_binary, "config"], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ('builtin\tcontainers.default_capabilities=["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", '
            '"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]') in lines
    assert "builtin\tengine.service_timeout=5" in lines
    assert f'env:XDG_DATA_HOME\tskiff.root="{workdir}/data/containers/storage/skiff"' in lines


def test_a_malformed_file_names_file_and_line(user, skiff_binary, workdir, isolated_env):
    path = write_user_file(user, workdir, "[containers]\npids_limit = = 3\n")
    result = user.run([skiff_binary, "config"], isolated_env)
    assert result.returncode == 125
    assert f"skiff: configuration: {path}:2: column 14: expected a value, found '='" in result.stderr
    service = user.run([skiff_binary, "service", "--socket", f"{workdir}/x.sock"], isolated_env)
    assert service.returncode == 125
    assert f"{path}:2:" in service.stderr


def test_an_unknown_key_is_a_warning(user, skiff_binary, workdir, isolated_env):
    path = write_user_file(user, workdir, "[containers]\n\nfancy_new_key = true\npids_limit = 7\n")
    result = user.run([skiff_binary, "config", "containers.pids_limit"], isolated_env)
    assert result.returncode == 0
    assert result.stdout == f"file:{path}:4\tcontainers.pids_limit=7\n"
    assert f"skiff: warning: {path}:3: unknown key 'fancy_new_key' in [containers], ignored" in result.stderr


def test_unknown_config_key_argument_fails(user, skiff_binary, isolated_env):
    result = user.run([skiff_binary, "config", "containers.nope"], isolated_env)
    assert result.returncode == 125
    assert "skiff config: no such key: containers.nope" in result.stderr


def test_service_timeout_from_containers_conf_is_the_default_idle_time(user, skiff_binary, workdir,
                                                                         isolated_env, start_service):
    write_user_file(user, workdir, "[engine]\nservice_timeout = 1\n")
    service = start_service()
    assert get(service.socket_path, "/_ping")[0] == 200
    assert service.wait(timeout=15) == 0
