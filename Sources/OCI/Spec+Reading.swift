import Platform

extension Spec {
    /// Reads `<bundle>/config.json`.
    public static func load(bundle: String) throws -> Spec {
        let path = bundle + "/config.json"
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readFile(path)
        } catch {
            throw OCIError(.notFound, "bundle \(bundle): cannot read config.json: \(error.text)")
        }
        return try decode(bytes, source: path)
    }

    public static func decode(_ bytes: [UInt8], source: String) throws -> Spec {
        try SpecReader(source: source).spec(try parse(bytes, source: source))
    }

    /// An OCI process object on its own (`exec --process FILE`).
    public static func decodeProcess(_ bytes: [UInt8], source: String) throws -> Process {
        try SpecReader(source: source).process(try parse(bytes, source: source), "process")
    }

    static func parse(_ bytes: [UInt8], source: String) throws(OCIError) -> JSON {
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw OCIError(.invalidArgument, "\(source): not valid JSON: \(error.message)")
        }
    }
}
