/// One step of the schema. Versions are 1, 2, 3, ... in order; `PRAGMA user_version` holds the
/// version a database file is at. A released migration is never edited: a change is a new one.
public struct Migration: Sendable {
    public let version: Int
    public let summary: String
    public let sql: String

    public init(version: Int, summary: String, sql: String) {
        self.version = version
        self.summary = summary
        self.sql = sql
    }
}

extension Migration {
    /// Every migration Skiff knows, oldest first.
    public static let all: [Migration] = [
        Migration(version: 1, summary: "images and their names", sql: """
            CREATE TABLE images (
                id      TEXT PRIMARY KEY,            -- sha256:<hex> of the image config
                created INTEGER NOT NULL,            -- unix seconds
                size    INTEGER NOT NULL DEFAULT 0,  -- bytes of all layers
                config  BLOB NOT NULL                -- the image config JSON
            ) STRICT;
            CREATE TABLE image_names (
                name     TEXT PRIMARY KEY,           -- docker.io/library/busybox:latest
                image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
            ) STRICT;
            CREATE INDEX image_names_by_image ON image_names(image_id);
            """),
        Migration(version: 2, summary: "containers", sql: """
            CREATE TABLE containers (
                id       TEXT PRIMARY KEY,           -- 64 hex
                name     TEXT NOT NULL UNIQUE,       -- without the leading '/'
                image_id TEXT NOT NULL REFERENCES images(id),   -- an image in use cannot go
                created  INTEGER NOT NULL,
                state    TEXT NOT NULL CHECK (state IN
                         ('created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead')),
                config   BLOB NOT NULL               -- create request as stored
            ) STRICT;
            CREATE INDEX containers_by_image ON containers(image_id);
            """),
        Migration(version: 3, summary: "engine identity", sql: """
            CREATE TABLE engine (
                singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
                id        TEXT NOT NULL,             -- random UUID, reported as /info ID
                created   INTEGER NOT NULL
            ) STRICT;
            """),
        Migration(version: 4, summary: "layers, the layers of each image, repository digests", sql: """
            CREATE TABLE layers (
                chain_id        TEXT PRIMARY KEY,    -- sha256:<hex> chain id; the directory layers/<hex>
                diff_id         TEXT NOT NULL,       -- sha256:<hex> of the uncompressed tar (rootfs.diff_ids)
                parent_chain_id TEXT REFERENCES layers(chain_id),  -- NULL for a base layer; a parent
                                                     -- cannot go while a child row names it
                size            INTEGER NOT NULL DEFAULT 0,  -- bytes unpacked, known once ready
                created         INTEGER NOT NULL,    -- unix seconds the unpacking began
                state           TEXT NOT NULL CHECK (state IN ('unpacking', 'ready'))
            ) STRICT;
            CREATE INDEX layers_by_parent ON layers(parent_chain_id);
            CREATE TABLE image_layers (
                image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,           -- 0 = base layer; every layer of the stack is listed
                chain_id TEXT NOT NULL REFERENCES layers(chain_id),  -- a layer in use cannot go
                PRIMARY KEY (image_id, position)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX image_layers_by_chain ON image_layers(chain_id);
            CREATE TABLE repo_digests (
                name     TEXT PRIMARY KEY,           -- docker.io/library/busybox@sha256:<manifest hex>
                image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
            ) STRICT;
            CREATE INDEX repo_digests_by_image ON repo_digests(image_id);
            """),
        Migration(version: 5, summary: "the blob each layer came from", sql: """
            CREATE TABLE layer_blobs (
                digest     TEXT PRIMARY KEY,         -- sha256:<hex> of the blob in blobs/ (as pulled or loaded)
                diff_id    TEXT NOT NULL,            -- sha256:<hex> of its uncompressed tar
                media_type TEXT NOT NULL,            -- the layer media type it was pulled or loaded as
                size       INTEGER NOT NULL          -- bytes of the blob
            ) STRICT;
            CREATE INDEX layer_blobs_by_diff ON layer_blobs(diff_id);
            """),
        Migration(version: 6, summary: "container run state, events, volumes", sql: """
            -- containers.created is unix nanoseconds from here on (no rows existed before).
            ALTER TABLE containers ADD COLUMN image_name TEXT NOT NULL DEFAULT '';   -- as the user gave it
            ALTER TABLE containers ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;        -- container process, 0 when not running
            ALTER TABLE containers ADD COLUMN monitor_pid INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN monitor_start INTEGER NOT NULL DEFAULT 0;  -- /proc/<pid>/stat starttime
            ALTER TABLE containers ADD COLUMN exit_code INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN started_at TEXT NOT NULL DEFAULT '';   -- RFC 3339 nano, UTC
            ALTER TABLE containers ADD COLUMN finished_at TEXT NOT NULL DEFAULT '';
            ALTER TABLE containers ADD COLUMN oom_killed INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;  -- no restart policy after a stop
            ALTER TABLE containers ADD COLUMN error TEXT NOT NULL DEFAULT '';         -- State.Error
            CREATE TABLE events (
                seq        INTEGER PRIMARY KEY AUTOINCREMENT,
                time_nano  INTEGER NOT NULL,         -- unix nanoseconds
                type       TEXT NOT NULL,            -- container, image, volume
                action     TEXT NOT NULL,            -- create, start, die, destroy, pull, ...
                actor_id   TEXT NOT NULL,
                attributes BLOB NOT NULL             -- JSON object of strings
            ) STRICT;
            CREATE INDEX events_by_time ON events(time_nano);
            CREATE TABLE volumes (
                name      TEXT PRIMARY KEY,
                created   INTEGER NOT NULL,          -- unix seconds
                labels    BLOB NOT NULL,             -- JSON object of strings
                anonymous INTEGER NOT NULL DEFAULT 0 -- made for one container (removed by rm -v)
            ) STRICT;
            CREATE TABLE container_volumes (
                container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
                volume_name  TEXT NOT NULL REFERENCES volumes(name),  -- a volume in use cannot go
                PRIMARY KEY (container_id, volume_name)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX container_volumes_by_volume ON container_volumes(volume_name);
            """),
        Migration(version: 7, summary: "the static part of each container's list entry", sql: """
            -- JSON members (without braces) of GET /containers/json that never change after
            -- create: the list splices them instead of parsing every stored config. Empty: render
            -- from the config.
            ALTER TABLE containers ADD COLUMN summary BLOB NOT NULL DEFAULT x'';
            """),
        Migration(version: 8, summary: "the list's order, newest first", sql: """
            -- GET /containers/json reads the containers in this order on every request: walked
            -- in the index, not sorted each time (the sort was most of an empty list's query).
            CREATE INDEX containers_newest ON containers(created DESC, id);
            """),
        Migration(version: 9, summary: "who removes each container being removed", sql: """
            -- The process that set a container `removing` (its pid and /proc start time, so a
            -- recycled pid is never taken for it; 0: none recorded). A removal whose remover is
            -- gone (a service killed part way) is finished by the next removal that meets it.
            ALTER TABLE containers ADD COLUMN remover_pid INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN remover_start INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 10, summary: "containers' healthcheck state (HealthRecords.swift)", sql: """
            -- State.Health of a container that ran with a healthcheck: the status ('' while it never
            -- did: `none`), the failing streak and the last results (a JSON array of
            -- HealthcheckResult). Only the monitor and its probes write them.
            ALTER TABLE containers ADD COLUMN health_status TEXT NOT NULL DEFAULT ''
                CHECK (health_status IN ('', 'starting', 'healthy', 'unhealthy'));
            ALTER TABLE containers ADD COLUMN health_streak INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE containers ADD COLUMN health_log BLOB NOT NULL DEFAULT x'5b5d';   -- []
            """),
        Migration(version: 11, summary: "exec instances", sql: """
            -- One row per `POST /containers/{id}/exec` (docs/exec.md): the service writes it at
            -- create and claims it at start; the exec's supervisor (skiff-monitor --exec) writes
            -- the pid and the exit, so an exit is recorded without the service.
            CREATE TABLE execs (
                id             TEXT PRIMARY KEY,     -- 64 hex
                container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
                created        INTEGER NOT NULL,     -- unix nanoseconds
                state          TEXT NOT NULL CHECK (state IN ('created', 'running', 'exited')),
                exit_code      INTEGER,              -- NULL until it ended
                pid            INTEGER NOT NULL DEFAULT 0,   -- the process (host pid ns), 0: none
                supervisor_pid INTEGER NOT NULL DEFAULT 0,
                supervisor_start INTEGER NOT NULL DEFAULT 0, -- /proc/<pid>/stat starttime
                finished       INTEGER NOT NULL DEFAULT 0,   -- unix nanoseconds, 0: not ended
                config         BLOB NOT NULL         -- the exec's ProcessConfig and options (JSON)
            ) STRICT;
            CREATE INDEX execs_by_container ON execs(container_id);
            """),
        Migration(version: 12, summary: "volumes' driver options and first-mount copy (VolumeRecords.swift)", sql: """
            -- DriverOpts of `POST /volumes/create` (a JSON object of strings; x'' when the volume
            -- was made by a container, which inspect shows as null). copy_up: 1 until the first
            -- container that mounts the volume was created; only then is the image's content
            -- copied in (CVE-2020-1726: a volume once used is never written over).
            ALTER TABLE volumes ADD COLUMN options BLOB NOT NULL DEFAULT x'';
            ALTER TABLE volumes ADD COLUMN copy_up INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 13, summary: "user-defined networks and their endpoints (NetworkRecords.swift)", sql: """
            -- A network made by `POST /networks/create` (the predefined bridge, host and none are
            -- not rows). subnet/gateway/ip_range: IPv4, CIDR or address text as Docker shows them.
            CREATE TABLE networks (
                id         TEXT PRIMARY KEY,         -- 64 hex
                name       TEXT NOT NULL UNIQUE,
                created    INTEGER NOT NULL,         -- unix nanoseconds
                driver     TEXT NOT NULL,
                subnet     TEXT NOT NULL,
                gateway    TEXT NOT NULL,
                ip_range   TEXT NOT NULL DEFAULT '',
                internal   INTEGER NOT NULL DEFAULT 0,
                attachable INTEGER NOT NULL DEFAULT 0,
                labels     BLOB NOT NULL,            -- JSON object of strings
                options    BLOB NOT NULL             -- the driver's options, JSON object of strings
            ) STRICT;
            -- A container's place on a network: its address (CIDR), aliases (JSON array) and
            -- whether the address was asked for. A network with endpoints cannot be removed.
            CREATE TABLE network_endpoints (
                network_id   TEXT NOT NULL REFERENCES networks(id),
                container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
                address      TEXT NOT NULL,
                aliases      BLOB NOT NULL,
                static       INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (network_id, container_id),
                UNIQUE (network_id, address)
            ) STRICT;
            CREATE INDEX network_endpoints_by_container ON network_endpoints(container_id);
            """),
        Migration(version: 14, summary: "whether a network's subnet was given (NetworkRecords.swift)", sql: """
            -- 1: the subnet came from the request's IPAM config (a container may then ask for a
            -- static address, as moby allows); 0: Skiff picked it from the default pools.
            ALTER TABLE networks ADD COLUMN subnet_given INTEGER NOT NULL DEFAULT 0;
            """),
        Migration(version: 15, summary: "networks' IPAM auxiliary addresses and options, endpoints' settings as given (NetworkIPAMRecords.swift)", sql: """
            -- aux_addresses: IPAM.Config's AuxiliaryAddresses (JSON object of strings), reserved;
            -- ipam_options: IPAM.Options as given (JSON object), NULL when not given (inspect: null).
            ALTER TABLE networks ADD COLUMN aux_addresses BLOB NOT NULL DEFAULT X'7B7D';
            ALTER TABLE networks ADD COLUMN ipam_options BLOB;
            -- What the client gave of the endpoint's settings that inspect echoes and the start
            -- uses (Links, DriverOpts, IPAMConfig.LinkLocalIPs, MacAddress), a JSON object.
            ALTER TABLE network_endpoints ADD COLUMN settings BLOB NOT NULL DEFAULT X'7B7D';
            """),
        Migration(version: 16, summary: "IPv6 of user-defined networks and their endpoints (NetworkRecords.swift)", sql: """
            -- An IPv6 network's subnet (CIDR), gateway and ip-range; "" for an IPv4-only one.
            ALTER TABLE networks ADD COLUMN ipv6_subnet TEXT NOT NULL DEFAULT '';
            ALTER TABLE networks ADD COLUMN ipv6_gateway TEXT NOT NULL DEFAULT '';
            ALTER TABLE networks ADD COLUMN ipv6_range TEXT NOT NULL DEFAULT '';
            -- The container's IPv6 address there (CIDR, "" on an IPv4-only network), and whether
            -- it was asked for (IPAMConfig.IPv6Address, --ip6).
            ALTER TABLE network_endpoints ADD COLUMN ipv6_address TEXT NOT NULL DEFAULT '';
            ALTER TABLE network_endpoints ADD COLUMN ipv6_static INTEGER NOT NULL DEFAULT 0;
            """),
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }
}

extension Database {
    /// The schema version of this file.
    public func schemaVersion() throws -> Int {
        Int(try queryScalarInt("PRAGMA user_version") ?? 0)
    }

    /// Brings the file up to `target` (default: the newest). Runs under `BEGIN IMMEDIATE` and reads
    /// `user_version` under that lock, so two processes opening a new file at once apply each
    /// migration exactly once. A file newer than this program is refused, not touched.
    @discardableResult
    public func migrate(to target: Int = Migration.latestVersion,
                        migrations: [Migration] = Migration.all) throws -> (from: Int, to: Int) {
        try transaction {
            let current = try schemaVersion()
            let newest = migrations.last?.version ?? 0
            if current > newest {
                throw StoreError(.corrupt,
                    "\(path): schema version \(current) is newer than this skiff understands (\(newest)); upgrade skiff")
            }
            for migration in migrations where migration.version > current && migration.version <= target {
                do {
                    try execute(migration.sql)
                } catch let error as StoreError {
                    throw StoreError(error.code,
                        "migration \(migration.version) (\(migration.summary)): \(error.message)",
                        sqliteCode: error.sqliteCode)
                }
                try execute("PRAGMA user_version = \(migration.version)")
            }
            return (current, max(current, min(target, newest)))
        }
    }
}
