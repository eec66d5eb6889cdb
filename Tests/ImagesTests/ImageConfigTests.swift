import Platform
import Store
import Testing
@testable import Images

private func digest(_ c: Character) -> String { "sha256:" + String(repeating: c, count: 64) }

/// Shaped like the config of an nginx-style image as a registry serves it.
private let nginxConfig = """
{
  "architecture": "amd64",
  "config": {
    "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.27.2"],
    "Entrypoint": ["/docker-entrypoint.sh"],
    "Cmd": ["nginx", "-g", "daemon off;"],
    "Labels": {"maintainer": "NGINX Docker Maintainers"},
    "StopSignal": "SIGQUIT",
    "User": "101:101",
    "WorkingDir": "/",
    "Volumes": {"/var/cache/nginx": {}},
    "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "Interval": 30000000000,
                    "Timeout": 5000000000, "StartPeriod": 0, "Retries": 3},
    "ArgsEscaped": true,
    "OnBuild": null
  },
  "created": "2026-10-01T18:03:41.000000000Z",
  "history": [
    {"created": "2026-09-30T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2026-09-30T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\\"bash\\"]", "empty_layer": true},
    {"created": "2026-10-01T18:03:41Z", "created_by": "RUN /bin/sh -c set -x && apt-get install nginx # buildkit",
     "comment": "buildkit.dockerfile.v0"},
    {"created": "2026-10-01T18:03:41Z", "created_by": "EXPOSE map[80/tcp:{}]", "comment": "buildkit.dockerfile.v0",
     "empty_layer": true}
  ],
  "os": "linux",
  "rootfs": {"type": "layers", "diff_ids": ["\(digest("d"))", "\(digest("e"))"]}
}
"""

struct ImageConfigTests {
    @Test func readsARegistryConfig() throws {
        let config = try ImageConfig.read(Array(nginxConfig.utf8))
        #expect(config.architecture == "amd64")
        #expect(config.os == "linux")
        #expect(config.variant == nil)
        #expect(config.created == "2026-10-01T18:03:41.000000000Z")
        #expect(config.rootfs.type == "layers")
        #expect(config.rootfs.diffIDs.map(\.description) == [digest("d"), digest("e")])
        #expect(config.history.map(\.emptyLayer) == [false, true, false, true])
        #expect(config.history[2].comment == "buildkit.dockerfile.v0")
        #expect(config.config == ImageConfig.Container(
            user: "101:101",
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.27.2"],
            entrypoint: ["/docker-entrypoint.sh"],
            cmd: ["nginx", "-g", "daemon off;"],
            workingDir: "/",
            labels: ["maintainer": "NGINX Docker Maintainers"],
            exposedPorts: ["443/tcp", "80/tcp"],
            volumes: ["/var/cache/nginx"],
            stopSignal: "SIGQUIT",
            healthcheck: ImageConfig.Healthcheck(test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                                                 interval: 30_000_000_000, timeout: 5_000_000_000,
                                                 startPeriod: 0, retries: 3)))
    }

    @Test func readsAMinimalOCIConfig() throws {
        let text = "{\"architecture\": \"arm64\", \"variant\": \"v8\", \"os\": \"linux\", \"rootfs\": {\"type\": \"layers\", \"diff_ids\": []}}"
        let config = try ImageConfig.read(Array(text.utf8))
        #expect(config == ImageConfig(architecture: "arm64", os: "linux", variant: "v8", rootfs: ImageConfig.RootFS(diffIDs: [])))
    }

    private static func config(diffIDs: [String], history: String? = nil, extra: String = "") -> String {
        let ids = diffIDs.map { "\"\($0)\"" }.joined(separator: ",")
        let history = history.map { ", \"history\": \($0)" } ?? ""
        return "{\"architecture\": \"amd64\", \"os\": \"linux\"\(extra), \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [\(ids)]}\(history)}"
    }

    @Test(arguments: [
        (config(diffIDs: [digest("1"), "sha256:../../x"]), "image config: rootfs.diff_ids[1]: invalid digest \"sha256:../../x\""),
        (config(diffIDs: ["md5:d41d8cd98f00b204e9800998ecf8427e"]),
         "image config: rootfs.diff_ids[0]: unsupported digest algorithm \"md5\" in \"md5:d41d8cd98f00b204e9800998ecf8427e\""),
        (config(diffIDs: [digest("1")], history: "[{\"created_by\": \"a\"}, {\"created_by\": \"b\"}]"),
         "image config: history: 2 entries without empty_layer for 1 diff_ids"),
        (config(diffIDs: [digest("1"), digest("2")], history: "[{\"created_by\": \"a\"}, {\"empty_layer\": true}]"),
         "image config: history: 1 entries without empty_layer for 2 diff_ids"),
        (config(diffIDs: [digest("1")], history: "[{\"empty_layer\": \"yes\"}]"),
         "image config: history[0].empty_layer: expected a boolean, found a string"),
        (config(diffIDs: [], extra: ", \"config\": {\"Env\": [\"A=1\", 2]}"), "image config: config.Env[1]: expected a string, found a number"),
        (config(diffIDs: [], extra: ", \"config\": {\"Labels\": {\"a\": 1}}"), "image config: config.Labels.a: expected a string, found a number"),
        (config(diffIDs: [], extra: ", \"config\": {\"Healthcheck\": {\"Interval\": \"30s\"}}"),
         "image config: config.Healthcheck.Interval: expected a number, found a string"),
        ("{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"type\": \"layers\", \"diff_ids\": [1]}}",
         "image config: rootfs.diff_ids[0]: expected a string, found a number"),
        ("{\"architecture\": \"amd64\", \"os\": \"linux\", \"rootfs\": {\"type\": \"snapshot\", \"diff_ids\": []}}",
         "image config: rootfs.type: expected \"layers\", found \"snapshot\""),
        ("{\"architecture\": \"amd64\", \"os\": \"linux\"}", "image config: missing rootfs"),
        ("{\"os\": \"linux\", \"rootfs\": {\"type\": \"layers\", \"diff_ids\": []}}", "image config: missing architecture"),
        ("\"config\"", "image config: expected an object, found a string"),
    ])
    func refusesBadConfigs(_ text: String, _ message: String) {
        do {
            _ = try ImageConfig.read(Array(text.utf8))
            Issue.record("read a bad config")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == message)
        }
    }

    @Test func historyWithoutLayersIsAllowedWithoutDiffIDs() throws {
        // Every entry empty and no layers (FROM scratch + CMD), and no history at all.
        let empty = try ImageConfig.read(Array(Self.config(diffIDs: [], history: "[{\"empty_layer\": true}]").utf8))
        #expect(empty.history.count == 1)
        let noHistory = try ImageConfig.read(Array(Self.config(diffIDs: [digest("1"), digest("2")]).utf8))
        #expect(noHistory.history.isEmpty)
    }

    @Test func sizeLimit() throws {
        var bytes = Array(Self.config(diffIDs: [digest("1")]).utf8)
        bytes += [UInt8](repeating: 0x0A, count: ImageConfig.maximumSize - bytes.count)
        #expect(bytes.count == 4_194_304)
        _ = try ImageConfig.read(bytes)
        bytes.append(0x0A)
        do {
            _ = try ImageConfig.read(bytes)
            Issue.record("read a config over the limit")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "image config larger than 4194304 bytes")
        }
    }

    @Test func importedConfigIsCanonical() throws {
        let diffID = try Digest(parsing: digest("f"))
        var config = ImageConfig.imported(diffID: diffID, os: "linux", architecture: "amd64",
                                          created: "2026-11-29T06:00:00.123456789Z")
        // Changes are applied later by the caller (CMD, ENV from `changes`).
        config.config = ImageConfig.Container(env: ["B=2", "A=1"], cmd: ["/bin/sh"], labels: ["z": "1", "a": "2"],
                                              exposedPorts: ["53/udp", "8080/tcp"])
        let expected = "{\"architecture\":\"amd64\",\"config\":{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"B=2\",\"A=1\"],"
            + "\"ExposedPorts\":{\"53/udp\":{},\"8080/tcp\":{}},\"Labels\":{\"a\":\"2\",\"z\":\"1\"}},"
            + "\"created\":\"2026-11-29T06:00:00.123456789Z\","
            + "\"history\":[{\"comment\":\"Imported from -\",\"created\":\"2026-11-29T06:00:00.123456789Z\"}],"
            + "\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"\(digest("f"))\"],\"type\":\"layers\"}}"
        #expect(String(decoding: config.bytes, as: UTF8.self) == expected)
        #expect(config.id == Digest.sha256(of: Array(expected.utf8)))

        // What is written reads back to the same value, and the same bytes again.
        let again = try ImageConfig.read(config.bytes)
        #expect(again == config)
        #expect(again.bytes == config.bytes)
    }

    @Test func importedWithoutChangesHasNoContainerConfig() throws {
        let config = ImageConfig.imported(diffID: try Digest(parsing: digest("0")), os: "linux", architecture: "arm64",
                                          variant: "v8", created: "2026-11-29T06:00:00Z", cmd: ["sh"], comment: "hello")
        #expect(config.text == "{\"architecture\":\"arm64\",\"config\":{\"Cmd\":[\"sh\"]},\"created\":\"2026-11-29T06:00:00Z\","
            + "\"history\":[{\"comment\":\"hello\",\"created\":\"2026-11-29T06:00:00Z\"}],\"os\":\"linux\","
            + "\"rootfs\":{\"diff_ids\":[\"\(digest("0"))\"],\"type\":\"layers\"},\"variant\":\"v8\"}")
        let bare = ImageConfig.imported(diffID: try Digest(parsing: digest("0")), os: "linux", architecture: "amd64",
                                        created: "2026-11-29T06:00:00Z")
        #expect(bare.config == nil)
        #expect(try ImageConfig.read(bare.bytes) == bare)
    }

    @Test func registryConfigRoundTripsTheFieldsSkiffKeeps() throws {
        let config = try ImageConfig.read(Array(nginxConfig.utf8))
        let again = try ImageConfig.read(config.bytes)
        #expect(again == config)
    }
}

extension ImageConfig {
    fileprivate var text: String { String(decoding: bytes, as: UTF8.self) }
}
