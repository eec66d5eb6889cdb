import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Reads `containers.conf` and `storage.conf` in Podman's layers and merges them key by key.
public struct ConfigLoader: Sendable {
    public var environment: ConfigEnvironment

    public init(environment: ConfigEnvironment = .current()) {
        self.environment = environment
    }

    /// A file in the layer list, and whether it must exist.
    public struct Layer: Sendable, Equatable {
        public var path: String
        /// Named by an environment variable: missing is an error, not a skip.
        public var required: Bool
        /// The user's own file (or one named by the environment), as opposed to a system file.
        public var isUserLevel: Bool
    }

    /// The containers.conf layers, lowest precedence first:
    /// `/usr/share/containers/containers.conf`, `/etc/containers/containers.conf`,
    /// `/etc/containers/containers.conf.d/*.conf`, then for a non-root user
    /// `$XDG_CONFIG_HOME/containers/containers.conf` and its `.d/*.conf`.
    /// `CONTAINERS_CONF` replaces the whole list; `CONTAINERS_CONF_OVERRIDE` is applied last.
    public func containersConfLayers() -> [Layer] {
        var layers: [Layer] = []
        if let only = environment.variable("CONTAINERS_CONF") {
            layers.append(Layer(path: only, required: true, isUserLevel: true))
        } else {
            for (i, dir) in environment.systemDirectories.enumerated() {
                layers.append(Layer(path: dir + "/containers.conf", required: false, isUserLevel: false))
                // Podman reads drop-ins beside /etc's file (the last system directory).
                if i == environment.systemDirectories.count - 1 {
                    layers += dropIns(dir + "/containers.conf.d", userLevel: false)
                }
            }
            if !environment.isRoot {
                let dir = environment.configHome.path + "/containers"
                layers.append(Layer(path: dir + "/containers.conf", required: false, isUserLevel: true))
                layers += dropIns(dir + "/containers.conf.d", userLevel: true)
            }
        }
        if let override = environment.variable("CONTAINERS_CONF_OVERRIDE") {
            layers.append(Layer(path: override, required: true, isUserLevel: true))
        }
        return layers
    }

    /// The storage.conf layers: `/usr/share/containers/storage.conf`, `/etc/containers/storage.conf`,
    /// then for a non-root user `$XDG_CONFIG_HOME/containers/storage.conf`;
    /// `CONTAINERS_STORAGE_CONF` replaces the list.
    public func storageConfLayers() -> [Layer] {
        if let only = environment.variable("CONTAINERS_STORAGE_CONF") {
            return [Layer(path: only, required: true, isUserLevel: true)]
        }
        var layers = environment.systemDirectories.map {
            Layer(path: $0 + "/storage.conf", required: false, isUserLevel: false)
        }
        if !environment.isRoot {
            layers.append(Layer(path: environment.configHome.path + "/containers/storage.conf",
                                required: false, isUserLevel: true))
        }
        return layers
    }

    private func dropIns(_ dir: String, userLevel: Bool) -> [Layer] {
        let names = (FileSystem.directoryEntries(dir) ?? []).filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
        return names.sorted().map { Layer(path: dir + "/" + $0, required: false, isUserLevel: userLevel) }
    }

    /// Reads every layer of both files and resolves the storage locations.
    public func load() throws -> EngineConfig {
        var config = EngineConfig(environment: environment)
        for file in [ConfigSchema.File.containers, .storage] {
            for spec in file.keys {
                if let value = spec.defaultValue {
                    config.settings[spec.name] = Setting(value, .builtin)
                }
            }
            let layers = file == .containers ? containersConfLayers() : storageConfLayers()
            for layer in layers {
                guard let bytes = try ConfigLoader.read(layer) else { continue }
                config.filesRead.append(layer.path)
                let table: TOMLTable
                do {
                    table = try TOMLParser.parse(bytes: bytes)
                } catch let error as TOMLError {
                    throw ConfigError(.malformed, file: layer.path, line: error.line,
                                      "column \(error.column): \(error.message)")
                }
                try apply(table, path: [], from: layer, schema: ConfigSchema.index(file), into: &config)
            }
        }
        config.resolveStorage()
        return config
    }

    /// Walks one parsed file, checking each key against the schema.
    private func apply(_ table: TOMLTable, path: [String], from layer: Layer,
                       schema: ConfigSchema.Index, into config: inout EngineConfig) throws {
        let tableName = path.joined(separator: ".")
        for key in table.keys {
            guard let entry = table[key] else { continue }
            if let spec = path.isEmpty ? nil : schema.spec(table: tableName, key: key) {
                let value = try convert(entry, spec: spec, key: key, layer: layer)
                let name = spec.key == "*" ? tableName + "." + key : spec.name
                config.settings[name] = Setting(value, .file(path: layer.path, line: entry.line))
                if layer.isUserLevel { config.userLevelKeys.insert(name) } else { config.userLevelKeys.remove(name) }
                continue
            }
            let childPath = path + [key]
            if case .table(let child) = entry.value, schema.tables.contains(childPath.joined(separator: ".")) {
                try apply(child, path: childPath, from: layer, schema: schema, into: &config)
                continue
            }
            let where_ = tableName.isEmpty ? "at the top level" : "in [\(tableName)]"
            config.warnings.append(ConfigWarning(file: layer.path, line: entry.line,
                                                 message: "unknown key '\(key)' \(where_), ignored"))
        }
    }

    private func convert(_ entry: TOMLTable.Entry, spec: KeySpec, key: String, layer: Layer) throws -> Value {
        let mismatch = {
            ConfigError(.invalidValue, file: layer.path, line: entry.line,
                        "\(spec.table).\(key): expected \(spec.kind.expected), found \(entry.value.typeName)")
        }
        switch (spec.kind, entry.value) {
        case (.string, .string(let s)): return .string(s)
        case (.integer, .integer(let i)): return .integer(i)
        case (.bool, .bool(let b)): return .bool(b)
        case (.float, .float(let d)): return .float(d)
        case (.float, .integer(let i)): return .float(Double(i))
        case (.stringArray, .array(let elements)):
            var strings: [String] = []
            for element in elements {
                guard case .string(let s) = element else {
                    throw ConfigError(.invalidValue, file: layer.path, line: entry.line,
                        "\(spec.table).\(key): expected an array of strings, found \(element.typeName) in the array")
                }
                strings.append(s)
            }
            return .stringArray(strings)
        case (.table, .table), (.table, .array):
            return .raw(entry.value.rendered)
        default:
            throw mismatch()
        }
    }

    /// The file's bytes; nil when an optional layer does not exist.
    static func read(_ layer: Layer) throws -> [UInt8]? {
        do {
            return try FileSystem.readFile(layer.path, limit: 16 << 20)
        } catch {
            switch error.errno {
            case ENOENT where !layer.required:
                return nil
            case ENOENT:
                throw ConfigError(.missingFile, file: layer.path, "no such file (named by the environment)")
            case EFBIG:
                throw ConfigError(.unreadable, file: layer.path, "file larger than 16 MiB")
            default:
                throw ConfigError(.unreadable, file: layer.path, error.text)
            }
        }
    }
}
