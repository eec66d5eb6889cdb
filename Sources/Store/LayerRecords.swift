#if canImport(Glibc)
import Glibc
#endif

/// One unpacked layer, shared by every image whose stack contains it (`layers/<hex>/diff`).
public struct LayerRecord: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        /// A row exists so that two pulls do not unpack the same layer; the directory is not
        /// complete. After a crash the row is abandoned and the directory removed.
        case unpacking
        /// The directory is complete; images may name it.
        case ready
    }

    /// `sha256:<hex>` chain id: names the layer directory.
    public var chainID: String
    /// `sha256:<hex>` of the uncompressed layer tar.
    public var diffID: String
    /// The chain id of the layer below, `nil` for a base layer.
    public var parent: String?
    /// Bytes unpacked (0 while unpacking).
    public var size: Int64
    /// Unix seconds the unpacking began.
    public var created: Int64
    public var state: State
}

extension Store {
    /// Records that `chainID` is about to be unpacked (state `unpacking`). The parent, when
    /// given, must exist and be ready. A layer that is already there, ready or being unpacked,
    /// is `.exists`: the caller then uses it or waits.
    public func beginLayer(chainID: String, diffID: String, parent: String?) throws {
        try Store.checkDigest(chainID, "layer chain id")
        try Store.checkDigest(diffID, "layer diff id")
        if let parent { try Store.checkDigest(parent, "parent layer chain id") }
        try database.transaction {
            if let existing = try layerRow(chainID) {
                throw StoreError(.exists, existing.state == .ready
                    ? "layer \(chainID) already exists"
                    : "layer \(chainID) is already being unpacked")
            }
            if let parent {
                guard let row = try layerRow(parent) else {
                    throw StoreError(.notFound, "parent layer \(parent) of \(chainID) does not exist")
                }
                guard row.state == .ready else {
                    throw StoreError(.invalidState, "parent layer \(parent) of \(chainID) is not ready")
                }
            }
            try database.query("""
                INSERT INTO layers (chain_id, diff_id, parent_chain_id, size, created, state)
                VALUES (?, ?, ?, 0, ?, 'unpacking')
                """, [.text(chainID), .text(diffID), parent.map { .text($0) } ?? .null,
                      .integer(Int64(time(nil)))])
        }
    }

    /// Marks an unpacking layer ready, with its unpacked size.
    public func finishLayer(chainID: String, size: Int64) throws {
        guard size >= 0 else { throw StoreError(.invalidArgument, "layer \(chainID): negative size \(size)") }
        try database.transaction {
            guard let row = try layerRow(chainID) else {
                throw StoreError(.notFound, "no such layer: \(chainID)")
            }
            guard row.state == .unpacking else {
                throw StoreError(.invalidState, "layer \(chainID) is already ready")
            }
            try database.query("UPDATE layers SET state = 'ready', size = ? WHERE chain_id = ?",
                               [.integer(size), .text(chainID)])
        }
    }

    /// Drops the row of a layer whose unpacking failed or was interrupted; the caller removes
    /// its directory. A ready layer is refused (it may be in use: see `removeLayer`).
    public func abandonLayer(chainID: String) throws {
        try database.transaction {
            guard let row = try layerRow(chainID) else {
                throw StoreError(.notFound, "no such layer: \(chainID)")
            }
            guard row.state == .unpacking else {
                throw StoreError(.invalidState, "layer \(chainID) is ready, not being unpacked")
            }
            try database.query("DELETE FROM layers WHERE chain_id = ?", [.text(chainID)])
        }
    }

    /// Drops the row of a ready layer that no image uses and no layer sits on (one of
    /// `unusedLayers()`); the caller removes its directory afterwards.
    public func removeLayer(chainID: String) throws {
        try database.transaction {
            guard let row = try layerRow(chainID) else {
                throw StoreError(.notFound, "no such layer: \(chainID)")
            }
            guard row.state == .ready else {
                throw StoreError(.invalidState, "layer \(chainID) is being unpacked")
            }
            let users = try layerReferencesLocked(chainID)
            guard users == 0 else {
                throw StoreError(.invalidState, "layer \(chainID) is used by \(users) image(s)")
            }
            guard try !hasChildren(chainID) else {
                throw StoreError(.invalidState, "layer \(chainID) has layers on top of it")
            }
            try database.query("DELETE FROM layers WHERE chain_id = ?", [.text(chainID)])
        }
    }

    /// The layer `chainID`, if recorded.
    public func layer(chainID: String) throws -> LayerRecord? {
        try layerRow(chainID)
    }

    /// How many images use `chainID`, directly or through a layer stacked on it.
    public func layerReferences(chainID: String) throws -> Int {
        try layerReferencesLocked(chainID)
    }

    /// Ready layers no image uses, each listed after every layer stacked on it (so removing them
    /// in this order never removes a parent before its child). A layer with a child that is
    /// still unpacking or in use is not listed.
    public func unusedLayers() throws -> [String] {
        let layers = try database.query("SELECT chain_id, parent_chain_id, state FROM layers ORDER BY chain_id")
        let used = Set(try database.query("SELECT DISTINCT chain_id FROM image_layers").compactMap { $0.text(0) })
        var children: [String: [String]] = [:]
        var ready: Set<String> = []
        var roots: [String] = []
        for row in layers {
            guard let id = row.text(0) else { continue }
            if row.text(2) == LayerRecord.State.ready.rawValue { ready.insert(id) }
            if let parent = row.text(1) { children[parent, default: []].append(id) } else { roots.append(id) }
        }
        var result: [String] = []
        // Post-order walk: a layer is removable when it is ready, unused, and all its children are.
        func visit(_ id: String) -> Bool {
            var allChildrenRemovable = true
            for child in children[id] ?? [] where !visit(child) { allChildrenRemovable = false }
            let removable = allChildrenRemovable && ready.contains(id) && !used.contains(id)
            if removable { result.append(id) }
            return removable
        }
        for root in roots { _ = visit(root) }
        return result
    }

    // MARK: - Inside a transaction

    func layerRow(_ chainID: String) throws -> LayerRecord? {
        guard let row = try database.query("""
            SELECT chain_id, diff_id, parent_chain_id, size, created, state FROM layers WHERE chain_id = ?
            """, [.text(chainID)]).first else { return nil }
        return LayerRecord(chainID: row.text(0) ?? chainID, diffID: row.text(1) ?? "",
                           parent: row.text(2), size: row.int(3) ?? 0, created: row.int(4) ?? 0,
                           state: LayerRecord.State(rawValue: row.text(5) ?? "") ?? .unpacking)
    }

    func layerReferencesLocked(_ chainID: String) throws -> Int {
        Int(try database.queryScalarInt("""
            WITH RECURSIVE tree(chain_id) AS (
                SELECT ?
                UNION SELECT layers.chain_id FROM layers JOIN tree ON layers.parent_chain_id = tree.chain_id
            )
            SELECT count(DISTINCT image_id) FROM image_layers WHERE chain_id IN (SELECT chain_id FROM tree)
            """, [.text(chainID)]) ?? 0)
    }

    func hasChildren(_ chainID: String) throws -> Bool {
        try database.queryScalarInt("SELECT count(*) FROM layers WHERE parent_chain_id = ?", [.text(chainID)]) ?? 0 > 0
    }

    /// Deletes the rows of `candidates` (top of the stack first) that nothing uses any more and
    /// returns their chain ids, for the caller to remove their directories.
    func releaseLayers(_ candidates: [String]) throws -> [String] {
        var released: [String] = []
        for chainID in candidates where !released.contains(chainID) {
            guard let row = try layerRow(chainID), row.state == .ready,
                  try layerReferencesLocked(chainID) == 0, try !hasChildren(chainID) else { continue }
            try database.query("DELETE FROM layers WHERE chain_id = ?", [.text(chainID)])
            released.append(chainID)
        }
        return released
    }

    /// `sha256:` followed by 64 lowercase hex digits.
    static func checkDigest(_ value: String, _ what: String) throws {
        guard isDigest(value) else {
            throw StoreError(.invalidArgument, "invalid \(what) \"\(value)\": want sha256:<64 hex digits>")
        }
    }

    static func isDigest(_ value: String) -> Bool {
        let utf8 = Array(value.utf8)
        guard utf8.count == 71, value.hasPrefix("sha256:") else { return false }
        return utf8[7...].allSatisfy(isLowerHex)
    }

    static func isLowerHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)
    }
}
