import Platform

/// Typed access to a parsed JSON document, naming the field in every complaint
/// (`manifest: layers[2].digest: invalid digest "sha256:../../x"`), in the way
/// `Runtime.SpecReader` reads config.json. Unknown fields are ignored.
struct FieldReader {
    /// What the document is: "manifest", "image config".
    let source: String

    func fail(_ path: String, _ what: String) -> ImageError {
        ImageError(.invalidArgument, path.isEmpty ? "\(source): \(what)" : "\(source): \(path): \(what)")
    }

    /// Parses `bytes`, refusing more than `limit` bytes before parsing anything.
    func parse(_ bytes: [UInt8], limit: Int) throws(ImageError) -> JSON {
        guard bytes.count <= limit else { throw ImageError(.invalidArgument, "\(source) larger than \(limit) bytes") }
        let json: JSON
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw fail("", "invalid JSON: \(error.message)")
        }
        guard case .object = json else { throw fail("", "expected an object, found \(json.kind)") }
        return json
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The member, or nil when absent or null.
    func member(_ json: JSON, _ key: String) -> JSON? {
        guard let value = json[key], value != .null else { return nil }
        return value
    }

    func required(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> JSON {
        guard let value = member(json, key) else { throw fail("", "missing \(FieldReader.join(path, key))") }
        return value
    }

    func object(_ json: JSON, _ path: String) throws(ImageError) -> [JSON.Member] {
        guard case .object(let members) = json else { throw fail(path, "expected an object, found \(json.kind)") }
        return members
    }

    func string(_ json: JSON, _ path: String) throws(ImageError) -> String {
        guard case .string(let s) = json else { throw fail(path, "expected a string, found \(json.kind)") }
        return s
    }

    func optionalString(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> String? {
        guard let value = member(json, key) else { return nil }
        return try string(value, FieldReader.join(path, key))
    }

    func optionalBool(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> Bool? {
        guard let value = member(json, key) else { return nil }
        guard case .bool(let b) = value else {
            throw fail(FieldReader.join(path, key), "expected a boolean, found \(value.kind)")
        }
        return b
    }

    func array(_ json: JSON, _ path: String) throws(ImageError) -> [JSON] {
        guard case .array(let elements) = json else { throw fail(path, "expected an array, found \(json.kind)") }
        return elements
    }

    func optionalArray(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> [JSON]? {
        guard let value = member(json, key) else { return nil }
        return try array(value, FieldReader.join(path, key))
    }

    func optionalStrings(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> [String]? {
        guard let elements = try optionalArray(json, key, path) else { return nil }
        var result: [String] = []
        for (i, element) in elements.enumerated() {
            result.append(try string(element, "\(FieldReader.join(path, key))[\(i)]"))
        }
        return result
    }

    /// An object of strings (`annotations`, `Labels`).
    func optionalStringMap(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> [String: String]? {
        guard let value = member(json, key) else { return nil }
        let p = FieldReader.join(path, key)
        var result: [String: String] = [:]
        for m in try object(value, p) { result[m.key] = try string(m.value, "\(p).\(m.key)") }
        return result
    }

    /// The keys of an object whose values are `{}` (`ExposedPorts`, `Volumes`), sorted.
    func optionalKeySet(_ json: JSON, _ key: String, _ path: String) throws(ImageError) -> [String]? {
        guard let value = member(json, key) else { return nil }
        return try object(value, FieldReader.join(path, key)).map(\.key).sorted()
    }

    func int64(_ json: JSON, _ path: String) throws(ImageError) -> Int64 {
        switch json {
        case .int(let n): return n
        case .uint: throw fail(path, "number too large")
        case .double(let d):
            guard d == d.rounded(.towardZero), let n = Int64(exactly: d) else {
                throw fail(path, "expected an integer, found \(d)")
            }
            return n
        default: throw fail(path, "expected a number, found \(json.kind)")
        }
    }

    func size(_ json: JSON, _ path: String) throws(ImageError) -> Int64 {
        let n = try int64(json, path)
        guard n >= 0 else { throw fail(path, "size must not be negative, found \(n)") }
        return n
    }

    func digest(_ json: JSON, _ path: String) throws(ImageError) -> Digest {
        let text = try string(json, path)
        do {
            return try Digest(parsing: text)
        } catch {
            throw fail(path, error.message)
        }
    }
}
