/// The route table: every route the service answers, with moby's operationId (the same
/// `operationId` as in openapi.yaml; `OpenAPITests` keeps the two equal) and its handler, named
/// after the operationId. Order matters where templates overlap: the first match wins.
enum Routes {
    static let all: [Route] = [
        // System
        Route("GET", "/_ping", "SystemPing", SystemHandlers.systemPing),
        Route("HEAD", "/_ping", "SystemPingHead", SystemHandlers.systemPingHead),
        Route("GET", "/version", "SystemVersion", SystemHandlers.systemVersion),
        Route("GET", "/info", "SystemInfo", blocking: true, SystemHandlers.systemInfo),
        Route("POST", "/auth", "SystemAuth", blocking: true, long: true, AuthHandlers.systemAuth),

        // Image
        Route("GET", "/images/json", "ImageList", blocking: true, ImageHandlers.imageList),
        Route("POST", "/build", "ImageBuild", spool: true, long: true, BuildHandlers.imageBuild),
        Route("POST", "/build/cancel", "BuildCancel", blocking: true, BuildHandlers.buildCancel),
        Route("POST", "/images/create", "ImageCreate", spool: true, ImageHandlers.imageCreate),
        Route("POST", "/images/load", "ImageLoad", spool: true, ImageHandlers.imageLoad),
        Route("GET", "/images/get", "ImageGetAll", blocking: true, ImageHandlers.imageGetAll),
        Route("POST", "/images/prune", "ImagePrune", blocking: true, ImageHandlers.imagePrune),
        Route("GET", "/images/search", "ImageSearch", blocking: true, SearchHandlers.imageSearch),
        Route("GET", "/images/{name:.*}/json", "ImageInspect", blocking: true, ImageHandlers.imageInspect),
        Route("GET", "/images/{name:.*}/history", "ImageHistory", blocking: true, ImageHandlers.imageHistory),
        Route("GET", "/images/{name:.*}/get", "ImageGet", blocking: true, ImageHandlers.imageGet),
        Route("POST", "/images/{name:.*}/tag", "ImageTag", blocking: true, ImageHandlers.imageTag),
        Route("POST", "/images/{name:.*}/push", "ImagePush", blocking: true, ImageHandlers.imagePush),
        Route("DELETE", "/images/{name:.*}", "ImageDelete", blocking: true, ImageHandlers.imageDelete),
        Route("GET", "/distribution/{name:.*}/json", "DistributionInspect", blocking: true, long: true,
              DistributionHandlers.distributionInspect),

        // Container: create, inspect, list
        Route("POST", "/containers/create", "ContainerCreate", blocking: true, ContainerSpecHandlers.containerCreate),
        Route("GET", "/containers/json", "ContainerList", blocking: true,
              quick: ContainerSpecHandlers.containerListQuick, ContainerSpecHandlers.containerList),
        Route("GET", "/containers/{id}/json", "ContainerInspect", blocking: true, ContainerSpecHandlers.containerInspect),
        // Container: the run state
        Route("POST", "/containers/{id}/start", "ContainerStart", blocking: true, long: true, ContainerLifecycleHandlers.containerStart),
        Route("POST", "/containers/{id}/stop", "ContainerStop", blocking: true, long: true, ContainerLifecycleHandlers.containerStop),
        Route("POST", "/containers/{id}/restart", "ContainerRestart", blocking: true, long: true, ContainerLifecycleHandlers.containerRestart),
        Route("POST", "/containers/{id}/kill", "ContainerKill", blocking: true, ContainerLifecycleHandlers.containerKill),
        Route("POST", "/containers/{id}/pause", "ContainerPause", blocking: true, ContainerLifecycleHandlers.containerPause),
        Route("POST", "/containers/{id}/unpause", "ContainerUnpause", blocking: true, ContainerLifecycleHandlers.containerUnpause),
        Route("POST", "/containers/{id}/rename", "ContainerRename", blocking: true, ContainerLifecycleHandlers.containerRename),
        Route("GET", "/containers/{id}/stats", "ContainerStats", blocking: true, ContainerResourceHandlers.containerStats),
        Route("POST", "/containers/{id}/update", "ContainerUpdate", blocking: true, ContainerResourceHandlers.containerUpdate),
        Route("GET", "/containers/{id}/top", "ContainerTop", blocking: true, ContainerLifecycleHandlers.containerTop),
        Route("POST", "/containers/{id}/wait", "ContainerWait", blocking: true, long: true, ContainerLifecycleHandlers.containerWait),
        Route("DELETE", "/containers/{id}", "ContainerDelete", blocking: true, long: true, ContainerLifecycleHandlers.containerDelete),
        Route("POST", "/containers/prune", "ContainerPrune", blocking: true, long: true, ContainerLifecycleHandlers.containerPrune),
        // Container: streams
        Route("POST", "/containers/{id}/attach", "ContainerAttach", blocking: true, hijacks: true,
              ContainerStreamHandlers.containerAttach),
        Route("GET", "/containers/{id}/logs", "ContainerLogs", blocking: true, ContainerStreamHandlers.containerLogs),
        Route("POST", "/containers/{id}/resize", "ContainerResize", blocking: true, ContainerStreamHandlers.containerResize),
        // Container: files in and out (docker cp, export)
        Route("HEAD", "/containers/{id}/archive", "ContainerArchiveInfo", blocking: true, ContainerFileHandlers.containerArchiveInfo),
        Route("GET", "/containers/{id}/archive", "ContainerArchive", blocking: true, ContainerFileHandlers.containerArchive),
        Route("PUT", "/containers/{id}/archive", "PutContainerArchive", follows: true, ContainerFileHandlers.putContainerArchive),
        Route("GET", "/containers/{id}/export", "ContainerExport", blocking: true, ContainerFileHandlers.containerExport),
        Route("GET", "/containers/{id}/changes", "ContainerChanges", blocking: true, ContainerFileHandlers.containerChanges),
        Route("POST", "/commit", "ImageCommit", blocking: true, long: true, ContainerFileHandlers.imageCommit),

        // Exec (docs/exec.md)
        Route("POST", "/containers/{id}/exec", "ContainerExec", blocking: true, ExecHandlers.containerExec),
        Route("POST", "/exec/{id}/start", "ExecStart", blocking: true, hijacks: true, ExecHandlers.execStart),
        Route("POST", "/exec/{id}/resize", "ExecResize", blocking: true, ExecHandlers.execResize),
        Route("GET", "/exec/{id}/json", "ExecInspect", blocking: true, ExecHandlers.execInspect),

        // Networks: predefined and user-defined (docs/networking.md)
        Route("GET", "/networks", "NetworkList", blocking: true, NetworkHandlers.networkList),
        Route("GET", "/networks/{id}", "NetworkInspect", blocking: true, NetworkHandlers.networkInspect),
        Route("POST", "/networks/create", "NetworkCreate", blocking: true, NetworkHandlers.networkCreate),
        Route("DELETE", "/networks/{id}", "NetworkDelete", blocking: true, NetworkHandlers.networkDelete),
        Route("POST", "/networks/prune", "NetworkPrune", blocking: true, NetworkHandlers.networkPrune),
        Route("POST", "/networks/{id}/connect", "NetworkConnect", blocking: true, NetworkConnectHandlers.networkConnect),
        Route("POST", "/networks/{id}/disconnect", "NetworkDisconnect", blocking: true, NetworkConnectHandlers.networkDisconnect),

        // Volume (docs/volumes.md)
        Route("GET", "/volumes", "VolumeList", blocking: true, VolumeHandlers.volumeList),
        Route("POST", "/volumes/create", "VolumeCreate", blocking: true, VolumeHandlers.volumeCreate),
        Route("POST", "/volumes/prune", "VolumePrune", blocking: true, long: true, VolumeHandlers.volumePrune),
        Route("GET", "/volumes/{name}", "VolumeInspect", blocking: true, VolumeHandlers.volumeInspect),
        Route("DELETE", "/volumes/{name}", "VolumeDelete", blocking: true, VolumeHandlers.volumeDelete),

        // System: disk usage, build cache (docs/volumes.md)
        Route("GET", "/system/df", "SystemDataUsage", blocking: true, long: true, SystemDataHandlers.systemDataUsage),
        Route("POST", "/build/prune", "BuildPrune", blocking: true, SystemDataHandlers.buildPrune),

        // Swarm: answered as by a node that is not in a swarm (SwarmHandlers.swift)
        Route("GET", "/swarm", "SwarmInspect", SwarmHandlers.notSwarmManager),
        Route("POST", "/swarm/init", "SwarmInit", SwarmHandlers.swarmUnsupported),
        Route("POST", "/swarm/join", "SwarmJoin", SwarmHandlers.swarmUnsupported),
        Route("POST", "/swarm/leave", "SwarmLeave", SwarmHandlers.swarmLeave),
        Route("POST", "/swarm/update", "SwarmUpdate", SwarmHandlers.notSwarmManager),
        Route("GET", "/swarm/unlockkey", "SwarmUnlockkey", SwarmHandlers.notSwarmManager),
        Route("POST", "/swarm/unlock", "SwarmUnlock", SwarmHandlers.notSwarmManager),
        Route("GET", "/services", "ServiceList", SwarmHandlers.notSwarmManager),
        Route("POST", "/services/create", "ServiceCreate", SwarmHandlers.notSwarmManager),
        Route("GET", "/services/{id}", "ServiceInspect", SwarmHandlers.notSwarmManager),
        Route("DELETE", "/services/{id}", "ServiceDelete", SwarmHandlers.notSwarmManager),
        Route("POST", "/services/{id}/update", "ServiceUpdate", SwarmHandlers.notSwarmManager),
        Route("GET", "/services/{id}/logs", "ServiceLogs", SwarmHandlers.notSwarmManager),
        Route("GET", "/nodes", "NodeList", SwarmHandlers.notSwarmManager),
        Route("GET", "/nodes/{id}", "NodeInspect", SwarmHandlers.notSwarmManager),
        Route("DELETE", "/nodes/{id}", "NodeDelete", SwarmHandlers.notSwarmManager),
        Route("POST", "/nodes/{id}/update", "NodeUpdate", SwarmHandlers.notSwarmManager),
        Route("GET", "/tasks", "TaskList", SwarmHandlers.notSwarmManager),
        Route("GET", "/tasks/{id}", "TaskInspect", SwarmHandlers.notSwarmManager),
        Route("GET", "/tasks/{id}/logs", "TaskLogs", SwarmHandlers.notSwarmManager),
        Route("GET", "/secrets", "SecretList", SwarmHandlers.notSwarmManager),
        Route("POST", "/secrets/create", "SecretCreate", SwarmHandlers.notSwarmManager),
        Route("GET", "/secrets/{id}", "SecretInspect", SwarmHandlers.notSwarmManager),
        Route("DELETE", "/secrets/{id}", "SecretDelete", SwarmHandlers.notSwarmManager),
        Route("POST", "/secrets/{id}/update", "SecretUpdate", SwarmHandlers.notSwarmManager),
        Route("GET", "/configs", "ConfigList", SwarmHandlers.notSwarmManager),
        Route("POST", "/configs/create", "ConfigCreate", SwarmHandlers.notSwarmManager),
        Route("GET", "/configs/{id}", "ConfigInspect", SwarmHandlers.notSwarmManager),
        Route("DELETE", "/configs/{id}", "ConfigDelete", SwarmHandlers.notSwarmManager),
        Route("POST", "/configs/{id}/update", "ConfigUpdate", SwarmHandlers.notSwarmManager),

        // System: events (last, as it was when each group had its own list)
        Route("GET", "/events", "SystemEvents", blocking: true, EventHandlers.systemEvents),
    ]
}
