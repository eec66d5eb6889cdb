"""The service answers the Docker Engine API as Docker does: /_ping, /version, /info, version
prefixes, unknown routes, and real clients (the docker CLI and docker-py)."""
import json
import os
import re
import subprocess

import docker
import pytest

from conftest import get, get_json, http

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)


@BOTH
def test_ping_answers_ok_with_docker_headers(start_service):
    service = start_service()
    status, headers, body = get(service.socket_path, "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.44"
    assert headers["docker-experimental"] == "false"
    assert headers["ostype"] == "linux"
    assert headers["server"] == "Skiff/0.1.0 (linux)"
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_head_ping_has_headers_and_no_body(start_service):
    service = start_service()
    raw = b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    # Two pipelined requests: if HEAD carried a body, the second response would be misread.
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(service.socket_path)
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    first, second = data.split(b"HTTP/1.1 ", 2)[1:]
    assert first.startswith(b"200 OK\r\n")
    assert b"Content-Length: 2\r\n" in first and first.endswith(b"\r\n\r\n")
    assert b"Api-Version: 1.44" in first
    assert second.startswith(b"200 OK\r\n") and second.endswith(b"\r\n\r\nOK")


@pytest.mark.parametrize("path,status,message", [
    ("/v1.44/_ping", 200, None),
    ("/v1.24/_ping", 200, None),
    ("/v1.44/version", 200, None),
    ("/v1.45/_ping", 400, "client version 1.45 is too new. Maximum supported API version is 1.44"),
    ("/v1.12/version", 400, "client version 1.12 is too old. Minimum supported API version is 1.24, "
                            "please upgrade your client to a newer version"),
    ("/v1.44/no/such/route", 404, "page not found"),
    ("/plugins", 404, "page not found"),
    # Served as by a node outside a swarm (docs/volumes.md).
    ("/swarm", 503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                    'to connect this node to swarm and try again.'),
])
def test_version_prefix_and_unknown_routes(start_service, path, status, message):
    service = start_service()
    got, headers, body = get(service.socket_path, path)
    assert got == status
    if message is not None:
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"message": message}


def test_wrong_method_is_405_with_a_message(start_service):
    service = start_service()
    status, headers, body = get(service.socket_path, "/_ping", method="DELETE")
    assert status == 405
    assert json.loads(body) == {"message": "method DELETE not allowed"}


@BOTH
def test_version_and_info_fields(start_service, user, workdir):
    service = start_service()
    status, version = get_json(service.socket_path, "/version")
    assert status == 200
    assert version["Platform"]["Name"] == "Skiff"
    assert version["Version"] == "0.1.0"
    assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.44", "1.24")
    assert version["Os"] == "linux" and version["KernelVersion"] == os.uname().release

    status, info = get_json(service.socket_path, "/info")
    assert status == 200
    assert info["ServerVersion"] == "0.1.0"
    assert (info["Containers"], info["Images"]) == (0, 0)
    assert info["NCPU"] == os.cpu_count()
    assert len(info["ID"]) == 36
    if user.is_root:
        assert info["DockerRootDir"] == f"{workdir}/graph/skiff"
        assert "name=rootless" not in info["SecurityOptions"]
    else:
        assert info["DockerRootDir"] == f"{workdir}/data/containers/storage/skiff"
        assert "name=rootless" in info["SecurityOptions"]
    # The ID is the store's: a second call gives the same one.
    assert get_json(service.socket_path, "/info")[1]["ID"] == info["ID"]


@BOTH
def test_docker_cli_version_and_info(start_service, user, workdir):
    service = start_service()
    env = {"DOCKER_HOST": f"unix://{service.socket_path}", "DOCKER_CONFIG": f"{workdir}/docker-config"}
    result = user.run(["docker", "version"], env)
    assert result.returncode == 0, result.stderr
    assert "Server: Skiff" in result.stdout
    server = result.stdout.split("Server: Skiff", 1)[1]
    assert re.search(r"^ Engine:\n  Version: +0\.1\.0$", server, re.M), server
    assert re.search(r"^  API version: +1\.44 \(minimum version 1\.24\)$", server, re.M), server

    result = user.run(["docker", "info"], env)
    assert result.returncode == 0, result.stderr
    assert "Server Version: 0.1.0" in result.stdout
    assert "Containers: 0" in result.stdout
    if not user.is_root:
        assert "rootless" in result.stdout
        assert f"Docker Root Dir: {workdir}/data/containers/storage/skiff" in result.stdout


def test_docker_py_client(start_service):
    service = start_service()
    client = docker.DockerClient(base_url=f"unix://{service.socket_path}", version="auto")
    try:
        assert client.ping() is True
        assert client.api.api_version == "1.44"
        version = client.version()
        assert version["Platform"]["Name"] == "Skiff"
        assert client.info()["ServerVersion"] == "0.1.0"
    finally:
        client.close()


def test_store_is_created_with_wal_and_migrations(start_service, user, workdir):
    import sqlite3
    service = start_service()
    assert get_json(service.socket_path, "/info")[0] == 200
    path = f"{workdir}/data/containers/storage/skiff/skiff.db"
    assert os.stat(path).st_uid == user.uid
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        # The newest migration the source declares.
        source = open(os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "Store", "Migration.swift")).read()
        latest = max(int(n) for n in re.findall(r"Migration\(version: (\d+)", source))
        assert latest >= 3
        assert db.execute("PRAGMA user_version").fetchone()[0] == latest
