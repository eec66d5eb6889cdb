import Store

/// What `GET /containers/json` reads from the Store, as an engine operation: the handler decodes
/// the query and renders the entries (Handlers/ContainerSpecHandlers.swift).
extension Engine {
    /// What to read.
    struct ContainerListReading: Sendable, Equatable {
        /// Names or ids of the `ancestor` filters.
        var ancestors: [String]
        /// Read the stored configs too (a filter needs them; the entries' static parts are kept
        /// apart: `ContainerRecord.summary`).
        var withConfig: Bool
        /// Read the images' sizes (`size`).
        var imageSizes: Bool
    }

    /// What was read.
    struct ContainerListRows: Sendable {
        var records: [ContainerRecord]
        /// Image ids of the `ancestor` filters (nil: none).
        var ancestors: Set<String>?
        /// The image each container's image name names now (a retag moves it); absent: none.
        var imageIDs: [String: String]
        /// Image sizes by id, for `size`.
        var imageSizes: [String: Int64]
        /// Recorded health statuses by container id (`docker ps`'s STATUS, the `health` filter).
        var health: [String: String] = [:]
    }

    /// Every row, newest first, a row whose monitor died brought up to date first (a write).
    func containerListRows(_ reading: ContainerListReading) throws -> ContainerListRows {
        try withStore { store in
            let records = try store.containers(withConfig: reading.withConfig).map { try reconcile($0, store: store) }
            return try containerListRows(reading, records: records, store: store)
        }
    }

    /// The rows without waiting and without writing, for an answer on the event loop: nil when
    /// the Store is busy, when there are more than `limit` rows, when a row's monitor is gone
    /// (reconcile would write it) or a row has no summary. An event loop's reader answers from
    /// its last read while nothing was committed since (`QuickReadMemory`); whether a monitor is
    /// gone is looked at each time.
    func quickContainerListRows(_ reading: ContainerListReading, limit: Int) throws -> ContainerListRows? {
        let read = try withStoreIfFree(kept: { token, memory -> ContainerListRows?? in
            guard let kept = memory.containerList, kept.token == token, kept.reading == reading,
                  kept.limit == limit else { return nil }
            return .some(kept.rows)
        }, read: { store -> ContainerListRows? in
            let records = try store.containers(withConfig: reading.withConfig, limit: limit + 1)
            guard records.count <= limit, !records.contains(where: { $0.summary.isEmpty }) else { return nil }
            return try containerListRows(reading, records: records, store: store)
        }, keep: { token, memory, rows in
            guard let rows else { return }
            memory.containerList = .init(token: token, reading: reading, limit: limit, rows: rows)
        })
        guard let rows = read ?? nil, !rows.records.contains(where: { needsReconcile($0) }) else { return nil }
        return rows
    }

    /// A container's stored config (nil: no such container).
    func storedConfig(ofContainer id: String) throws -> [UInt8]? {
        try withStore { try $0.container(id: id)?.config }
    }

    private func containerListRows(_ reading: ContainerListReading, records: [ContainerRecord],
                                   store: Store) throws -> ContainerListRows {
        var ancestors: Set<String>?
        if !reading.ancestors.isEmpty {
            ancestors = []
            for name in reading.ancestors {
                if let image = try? LocalImages.find(name, store).image { ancestors?.insert(image.id) }
            }
        }
        var imageSizes: [String: Int64] = [:]
        if reading.imageSizes {
            for record in records where imageSizes[record.imageID] == nil {
                imageSizes[record.imageID] = try store.image(byNameOrID: record.imageID, normalizedName: nil)?.size ?? 0
            }
        }
        // Image names the containers were created from, resolved now (a retag moves them).
        var looked: Set<String> = []
        var imageIDs: [String: String] = [:]
        for record in records where looked.insert(record.imageName).inserted {
            if let id = try? LocalImages.findID(record.imageName, store) { imageIDs[record.imageName] = id }
        }
        return ContainerListRows(records: records, ancestors: ancestors, imageIDs: imageIDs, imageSizes: imageSizes,
                                 health: try store.healthStatuses())
    }
}
