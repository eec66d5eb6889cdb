/// The blob a layer was pulled or loaded from (compressed or not): kept so that a push sends the
/// same bytes, and the image keeps its repository digest, instead of recompressing the layer.
public struct LayerBlobRecord: Sendable, Equatable {
    /// `sha256:<hex>` of the blob as stored.
    public var digest: String
    /// `sha256:<hex>` of the uncompressed tar.
    public var diffID: String
    public var mediaType: String
    public var size: Int64

    public init(digest: String, diffID: String, mediaType: String, size: Int64) {
        self.digest = digest
        self.diffID = diffID
        self.mediaType = mediaType
        self.size = size
    }
}

extension Store {
    /// Records (or updates) the blob `record.digest` as a source of the layer tar `record.diffID`.
    public func recordLayerBlob(_ record: LayerBlobRecord) throws {
        try Store.checkDigest(record.digest, "layer blob digest")
        try Store.checkDigest(record.diffID, "layer diff id")
        guard record.size >= 0, !record.mediaType.isEmpty else {
            throw StoreError(.invalidArgument, "layer blob \(record.digest): bad size or media type")
        }
        try database.query("""
            INSERT INTO layer_blobs (digest, diff_id, media_type, size) VALUES (?, ?, ?, ?)
            ON CONFLICT (digest) DO UPDATE SET diff_id = excluded.diff_id, media_type = excluded.media_type,
                                               size = excluded.size
            """, [.text(record.digest), .text(record.diffID), .text(record.mediaType), .integer(record.size)])
    }

    /// The blobs known for the layer tar `diffID`, compressed ones first (a push prefers them).
    public func layerBlobs(diffID: String) throws -> [LayerBlobRecord] {
        try database.query("""
            SELECT digest, diff_id, media_type, size FROM layer_blobs WHERE diff_id = ?
            ORDER BY media_type LIKE '%gzip' OR media_type LIKE '%zstd' DESC, digest
            """, [.text(diffID)]).compactMap(Store.layerBlob)
    }

    /// The record of blob `digest`, if any.
    public func layerBlob(digest: String) throws -> LayerBlobRecord? {
        try database.query("SELECT digest, diff_id, media_type, size FROM layer_blobs WHERE digest = ?",
                           [.text(digest)]).first.flatMap(Store.layerBlob)
    }

    /// Deletes the records of blobs whose layer tar no layer (ready or being unpacked) has any
    /// more, and returns their digests for the caller to delete the files.
    public func releaseUnusedLayerBlobs() throws -> [String] {
        try database.transaction {
            let unused = try database.query("""
                SELECT digest FROM layer_blobs
                WHERE NOT EXISTS (SELECT 1 FROM layers WHERE layers.diff_id = layer_blobs.diff_id)
                ORDER BY digest
                """).compactMap { $0.text(0) }
            for digest in unused {
                try database.query("DELETE FROM layer_blobs WHERE digest = ?", [.text(digest)])
            }
            return unused
        }
    }

    /// Every blob digest some record names (so a sweep of the blob directory keeps them).
    public func recordedLayerBlobs() throws -> Set<String> {
        Set(try database.query("SELECT digest FROM layer_blobs").compactMap { $0.text(0) })
    }

    private static func layerBlob(_ row: Row) -> LayerBlobRecord? {
        guard let digest = row.text(0), let diffID = row.text(1), let mediaType = row.text(2) else { return nil }
        return LayerBlobRecord(digest: digest, diffID: diffID, mediaType: mediaType, size: row.int(3) ?? 0)
    }
}
