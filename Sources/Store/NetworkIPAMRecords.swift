import Platform

/// A network's IPAM extras (migration 15): `AuxiliaryAddresses`, which no container is given,
/// and `IPAM.Options` as the request gave them (absent: inspect's null; `{}`: `{}`, as moby).
extension Store {
    /// Writes the extras of a network just inserted (in `addNetwork`'s transaction).
    func writeIPAMExtras(of record: NetworkRecord) throws {
        try database.query("UPDATE networks SET aux_addresses = ?, ipam_options = ? WHERE id = ?",
                           [.blob(Store.stringMap(record.auxAddresses).bytes),
                            record.ipamOptions.map { .blob(Store.stringMap($0).bytes) } ?? .null,
                            .text(record.id)])
    }

    /// Reads the two columns of a `networks` row into the record.
    static func readIPAMExtras(aux: SQLValue, options: SQLValue, into record: inout NetworkRecord) {
        if case .blob(let bytes) = aux { record.auxAddresses = decodeStringMap(bytes) }
        if case .blob(let bytes) = options { record.ipamOptions = decodeStringMap(bytes) }
    }
}
