/// One image as the Store keeps it: what `docker images` and `docker image inspect` need.
public struct ImageRecord: Sendable, Equatable {
    /// `sha256:<hex>` of the config.
    public var id: String
    /// Unix seconds (the config's `created`).
    public var created: Int64
    /// Bytes of all layers.
    public var size: Int64
    /// The image config JSON.
    public var config: [UInt8]
    /// Tags, normalized (`docker.io/library/busybox:latest`), sorted.
    public var names: [String]
    /// Repository digests (`docker.io/library/busybox@sha256:<manifest hex>`), sorted.
    public var digests: [String]
    /// Chain ids of the layer stack, base first.
    public var layers: [String]

    /// No tag and no repository digest: `<none>:<none>` in `docker images`.
    public var isDangling: Bool { names.isEmpty && digests.isEmpty }
}

/// What `deleteImage` did, for the API's `[{"Untagged"}, {"Deleted"}]` answer.
public struct ImageDeletion: Sendable, Equatable {
    /// Tags and digests removed, sorted.
    public var untagged: [String]
    /// Whether the image row went. A forced delete of an image a stopped container uses only
    /// untags it: the container row still names the image.
    public var deleted: Bool
    /// Layers no image uses any more, top of the stack first; their rows are gone and the caller
    /// removes their directories.
    public var releasedLayers: [String]
}

/// What `untag` did.
public struct Untagging: Sendable, Equatable {
    public var imageID: String
    /// The name given, and any digest of the same repository left without a tag (as Docker does).
    public var untagged: [String]
    /// No tag and no digest remain: the caller deletes the image unless something uses it.
    public var isNameless: Bool
}

extension Store {
    /// Records an image whose layers (chain ids, base first) are all ready, and gives it `names`
    /// (moved from any image that had them) and repository `digests`. Adding an image that is
    /// already there with the same layers only adds the names; returns whether it was new.
    @discardableResult
    public func addImage(id: String, config: [UInt8], size: Int64, created: Int64,
                         layers: [String], names: [String] = [], digests: [String] = []) throws -> Bool {
        try Store.checkDigest(id, "image id")
        for name in names { try Store.checkName(name) }
        for digest in digests { try Store.checkDigestReference(digest) }
        return try database.transaction {
            let existing = try imageLayers(id)
            let isNew = try database.queryScalarInt("SELECT count(*) FROM images WHERE id = ?", [.text(id)]) == 0
            if !isNew && existing != layers {
                throw StoreError(.invalidState, "image \(Store.shortID(id)) already exists with other layers")
            }
            if isNew {
                // Rows go in as the layers are checked: a bad layer rolls the image row back.
                try database.query("INSERT INTO images (id, created, size, config) VALUES (?, ?, ?, ?)",
                                   [.text(id), .integer(created), .integer(size), .blob(config)])
                for (position, chainID) in layers.enumerated() {
                    guard let layer = try layerRow(chainID) else {
                        throw StoreError(.invalidState, "image \(Store.shortID(id)): layer \(chainID) does not exist")
                    }
                    guard layer.state == .ready else {
                        throw StoreError(.invalidState, "image \(Store.shortID(id)): layer \(chainID) is not ready")
                    }
                    try database.query("INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)",
                                       [.text(id), .integer(Int64(position)), .text(chainID)])
                }
            }
            for name in names {
                try setName(name, imageID: id)
            }
            for digest in digests {
                try database.query("""
                    INSERT INTO repo_digests (name, image_id) VALUES (?, ?)
                    ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id
                    """, [.text(digest), .text(id)])
            }
            return isNew
        }
    }

    /// Gives `name` to the image, taking it from the image that had it (as `docker tag` does).
    /// Returns the image the name was taken from, if any.
    @discardableResult
    public func tag(imageID: String, name: String) throws -> String? {
        try Store.checkName(name)
        return try database.transaction {
            guard try database.queryScalarInt("SELECT count(*) FROM images WHERE id = ?", [.text(imageID)]) == 1 else {
                throw StoreError(.notFound, "No such image: \(imageID)")
            }
            return try setName(name, imageID: imageID)
        }
    }

    /// Removes a tag or a repository digest. Removing a repository's last tag removes that
    /// repository's digests of the image too, as Docker does.
    public func untag(name: String) throws -> Untagging {
        try database.transaction {
            let isDigest = name.contains("@")
            let table = isDigest ? "repo_digests" : "image_names"
            guard let imageID = try database.queryScalarText("SELECT image_id FROM \(table) WHERE name = ?",
                                                             [.text(name)]) else {
                throw StoreError(.notFound, "No such image: \(name)")
            }
            try database.query("DELETE FROM \(table) WHERE name = ?", [.text(name)])
            var untagged = [name]
            if !isDigest {
                let repository = Store.repository(of: name)
                let tags = try names(imageID, table: "image_names")
                if !tags.contains(where: { Store.repository(of: $0) == repository }) {
                    for digest in try names(imageID, table: "repo_digests")
                    where Store.repository(of: digest) == repository {
                        try database.query("DELETE FROM repo_digests WHERE name = ?", [.text(digest)])
                        untagged.append(digest)
                    }
                }
            }
            let left = try names(imageID, table: "image_names").count + names(imageID, table: "repo_digests").count
            return Untagging(imageID: imageID, untagged: untagged, isNameless: left == 0)
        }
    }

    /// Deletes an image by id, as `docker rmi <id>` does, with moby's conflicts:
    /// - a running (or paused, restarting) container uses it: refused even with `force`;
    /// - a stopped container uses it: refused without `force`; with `force` the names go and the
    ///   image stays (the container row still names it);
    /// - it has several tags, or tags in several repositories: refused without `force`.
    public func deleteImage(id: String, force: Bool) throws -> ImageDeletion {
        try database.transaction {
            guard try database.queryScalarInt("SELECT count(*) FROM images WHERE id = ?", [.text(id)]) == 1 else {
                throw StoreError(.notFound, "No such image: \(id)")
            }
            let user = try database.query("""
                SELECT id, state IN ('running', 'paused', 'restarting') FROM containers WHERE image_id = ?
                ORDER BY 2 DESC, created LIMIT 1
                """, [.text(id)]).first
            if let user, user.int(1) == 1 {
                throw Store.conflict(id, hard: true,
                    "image is being used by running container \(Store.shortID(user.text(0) ?? ""))")
            }
            let tags = try names(id, table: "image_names")
            let digests = try names(id, table: "repo_digests")
            if !force {
                let repositories = Set((tags + digests).map(Store.repository(of:)))
                if tags.count > 1 || repositories.count > 1 {
                    throw Store.conflict(id, hard: false, "image is referenced in multiple repositories")
                }
                if let user {
                    throw Store.conflict(id, hard: false,
                        "image is being used by stopped container \(Store.shortID(user.text(0) ?? ""))")
                }
            }
            try database.query("DELETE FROM image_names WHERE image_id = ?", [.text(id)])
            try database.query("DELETE FROM repo_digests WHERE image_id = ?", [.text(id)])
            let untagged = (tags + digests).sorted()
            if user != nil {
                return ImageDeletion(untagged: untagged, deleted: false, releasedLayers: [])
            }
            let layers = try imageLayers(id)
            try database.query("DELETE FROM images WHERE id = ?", [.text(id)])
            let released = try releaseLayers(layers.reversed())
            return ImageDeletion(untagged: untagged, deleted: true, releasedLayers: released)
        }
    }

    /// Whether any container (in any state) was created from the image.
    public func imageInUse(_ id: String) throws -> Bool {
        try database.queryScalarInt("SELECT count(*) FROM containers WHERE image_id = ?", [.text(id)]) ?? 0 > 0
    }

    /// Every image, newest first. `all` is accepted for the API's sake: without build parent
    /// links every image is top-level, so both answers are the same list.
    public func images(all: Bool = false) throws -> [ImageRecord] {
        try records(where: "", [])
    }

    /// Images with neither a tag nor a digest (`dangling=true`), newest first.
    public func danglingImages() throws -> [ImageRecord] {
        try records(where: """
            WHERE NOT EXISTS (SELECT 1 FROM image_names WHERE image_id = images.id)
              AND NOT EXISTS (SELECT 1 FROM repo_digests WHERE image_id = images.id)
            """, [])
    }

    /// Finds an image as moby does: a full id (`sha256:<hex>` or 64 hex), then a tag or digest
    /// reference (`normalizedName`, else `input`; the caller normalizes `busybox` to
    /// `docker.io/library/busybox:latest`), then a unique prefix of the id's hex (with or
    /// without `sha256:`). `nil` when nothing matches; an ambiguous prefix is an error.
    public func image(byNameOrID input: String, normalizedName: String? = nil) throws -> ImageRecord? {
        guard let id = try imageID(byNameOrID: input, normalizedName: normalizedName) else { return nil }
        return try records(where: "WHERE id = ?", [.text(id)]).first
    }

    /// The id of the image `image(byNameOrID:normalizedName:)` finds, found the same way without
    /// reading the rest of its record (names, layers, config).
    public func imageID(byNameOrID input: String, normalizedName: String? = nil) throws -> String? {
        let full = Store.isDigest(input) ? input
            : (input.utf8.count == 64 && input.utf8.allSatisfy(Store.isLowerHex) ? "sha256:" + input : nil)
        if let full {
            return try database.queryScalarText("SELECT id FROM images WHERE id = ?", [.text(full)])
        }
        let name = normalizedName ?? input
        for table in ["image_names", "repo_digests"] {
            if let id = try database.queryScalarText("SELECT image_id FROM \(table) WHERE name = ?", [.text(name)]) {
                return id
            }
        }
        let hex = input.hasPrefix("sha256:") ? String(input.dropFirst(7)) : input
        guard !hex.isEmpty, hex.utf8.allSatisfy(Store.isLowerHex) else { return nil }
        let matches = try database.query("SELECT id FROM images WHERE id GLOB ? LIMIT 2", [.text("sha256:\(hex)*")])
        guard matches.count < 2 else {
            throw StoreError(.invalidArgument, "multiple IDs found with provided prefix: \(hex)")
        }
        return matches.first?.text(0)
    }

    // MARK: - Inside a transaction

    /// Points `name` at `imageID`; returns the image it pointed at before, if another.
    @discardableResult
    func setName(_ name: String, imageID: String) throws -> String? {
        let previous = try database.queryScalarText("SELECT image_id FROM image_names WHERE name = ?", [.text(name)])
        try database.query("""
            INSERT INTO image_names (name, image_id) VALUES (?, ?)
            ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id
            """, [.text(name), .text(imageID)])
        return previous == imageID ? nil : previous
    }

    func names(_ imageID: String, table: String) throws -> [String] {
        try database.query("SELECT name FROM \(table) WHERE image_id = ? ORDER BY name", [.text(imageID)])
            .compactMap { $0.text(0) }
    }

    func imageLayers(_ imageID: String) throws -> [String] {
        try database.query("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", [.text(imageID)])
            .compactMap { $0.text(0) }
    }

    /// Images matching `filter` with their names, digests and layers: four queries in all,
    /// however many images there are.
    func records(where filter: String, _ arguments: [SQLValue]) throws -> [ImageRecord] {
        let rows = try database.query("SELECT id, created, size, config FROM images \(filter) ORDER BY created DESC, id",
                                      arguments)
        guard !rows.isEmpty else { return [] }
        let scope = filter.isEmpty ? "" : "WHERE image_id IN (SELECT id FROM images \(filter))"
        func grouped(_ sql: String) throws -> [String: [String]] {
            var result: [String: [String]] = [:]
            for row in try database.query(sql, filter.isEmpty ? [] : arguments) {
                if let id = row.text(0), let value = row.text(1) { result[id, default: []].append(value) }
            }
            return result
        }
        let names = try grouped("SELECT image_id, name FROM image_names \(scope) ORDER BY name")
        let digests = try grouped("SELECT image_id, name FROM repo_digests \(scope) ORDER BY name")
        let layers = try grouped("SELECT image_id, chain_id FROM image_layers \(scope) ORDER BY image_id, position")
        return rows.compactMap { row in
            guard let id = row.text(0) else { return nil }
            var config: [UInt8] = []
            if case .blob(let bytes) = row.values[3] { config = bytes }
            return ImageRecord(id: id, created: row.int(1) ?? 0, size: row.int(2) ?? 0, config: config,
                               names: names[id] ?? [], digests: digests[id] ?? [], layers: layers[id] ?? [])
        }
    }

    // MARK: - Names and messages

    /// moby's delete conflict: `conflict: unable to delete <short id> (cannot be forced) - ...`.
    static func conflict(_ imageID: String, hard: Bool, _ message: String) -> StoreError {
        StoreError(.invalidState,
            "conflict: unable to delete \(shortID(imageID)) (\(hard ? "cannot be forced" : "must be forced")) - \(message)")
    }

    /// The 12-hex short form Docker prints (`sha256:` dropped).
    public static func shortID(_ id: String) -> String {
        let hex = id.hasPrefix("sha256:") ? id.dropFirst(7) : Substring(id)
        return String(hex.prefix(12))
    }

    /// `docker.io/library/busybox` for `docker.io/library/busybox:latest` or `...@sha256:...`.
    static func repository(of name: String) -> String {
        if let at = name.firstIndex(of: "@") { return String(name[..<at]) }
        let slash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), slash.map({ colon > $0 }) ?? true {
            return String(name[..<colon])
        }
        return name
    }

    /// A tag name: not empty, no digest part (the caller has validated the reference itself).
    static func checkName(_ name: String) throws {
        guard !name.isEmpty, !name.contains("@") else {
            throw StoreError(.invalidArgument, "invalid tag name \"\(name)\"")
        }
    }

    /// `<repository>@sha256:<64 hex>`.
    static func checkDigestReference(_ reference: String) throws {
        guard let at = reference.firstIndex(of: "@"), at != reference.startIndex,
              isDigest(String(reference[reference.index(after: at)...])) else {
            throw StoreError(.invalidArgument, "invalid repository digest \"\(reference)\"")
        }
    }
}
