/// Header fields in the order received; names compare without regard to case.
struct HTTPHeaders: Sendable {
    var fields: [(name: String, value: String)] = []

    /// The first value of `name`.
    subscript(name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    /// Every value of `name` (WWW-Authenticate may come several times).
    func values(_ name: String) -> [String] {
        let lower = name.lowercased()
        return fields.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    mutating func add(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    /// Whether a comma-separated header (Connection, Transfer-Encoding) holds `token`.
    func contains(_ name: String, token: String) -> Bool {
        values(name).contains { value in
            value.split(separator: ",").contains { $0.trimmingSpaces.lowercased() == token }
        }
    }
}

extension Substring {
    var trimmingSpaces: String { String(self).trimmingSpaces }
}
