"""openapi.yaml is a valid OpenAPI 3 document (the route table test in Swift keeps it complete)."""
import os

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from conftest import REPO


def test_openapi_yaml_is_valid():
    spec, _ = read_from_filename(os.path.join(REPO, "openapi.yaml"))
    validate(spec)
    assert spec["openapi"].startswith("3.")
    operations = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert operations == {"SystemPing", "SystemPingHead", "SystemVersion", "SystemInfo",
                          "ImageList", "ImageCreate", "ImageLoad", "ImageGetAll", "ImagePrune", "ImageInspect",
                          "ImageHistory", "ImageGet", "ImageTag", "ImagePush", "ImageDelete",
                          "ContainerCreate", "ContainerList", "ContainerInspect",
                          "ContainerStart", "ContainerStop", "ContainerRestart", "ContainerKill",
                          "ContainerPause", "ContainerUnpause", "ContainerRename", "ContainerTop",
                          "ContainerWait", "ContainerDelete", "ContainerPrune",
                          "ContainerAttach", "ContainerLogs", "ContainerResize", "SystemEvents",
                          "ContainerStats", "ContainerUpdate",
                          "ContainerExec", "ExecStart", "ExecResize", "ExecInspect",
                          # issue 13, files in and out
                          "ContainerArchiveInfo", "ContainerArchive", "PutContainerArchive", "ContainerExport",
                          "ContainerChanges", "ImageCommit",
                          # issue 18, the predefined networks
                          "NetworkList", "NetworkInspect", "NetworkCreate", "NetworkDelete", "NetworkPrune",
                          "NetworkConnect", "NetworkDisconnect",
                          # issue 14, volumes and system
                          "VolumeList", "VolumeCreate", "VolumeInspect", "VolumeDelete", "VolumePrune",
                          "SystemDataUsage", "BuildPrune", "DistributionInspect", "SystemAuth", "ImageSearch",
                          "SwarmInspect", "SwarmInit", "SwarmJoin", "SwarmLeave", "SwarmUpdate", "SwarmUnlockkey",
                          "SwarmUnlock", "ServiceList", "ServiceCreate", "ServiceInspect", "ServiceDelete",
                          "ServiceUpdate", "ServiceLogs", "NodeList", "NodeInspect", "NodeDelete", "NodeUpdate",
                          "TaskList", "TaskInspect", "TaskLogs", "SecretList", "SecretCreate", "SecretInspect",
                          "SecretDelete", "SecretUpdate", "ConfigList", "ConfigCreate", "ConfigInspect",
                          "ConfigDelete", "ConfigUpdate",
                          # issue 17, docker build
                          "ImageBuild", "BuildCancel"}
