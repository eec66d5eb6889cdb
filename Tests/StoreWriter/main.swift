// A second process for the Store tests: opens the database at argv[1] and inserts argv[3]
// images named "<argv[2]>-<n>", one transaction each, then prints how many it wrote.
import Store

#if canImport(Glibc)
import Glibc
#endif

func say(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    say("usage: StoreWriter DB PREFIX COUNT")
    exit(2)
}
do {
    let database = try Database(path: arguments[1])
    try database.migrate()
    for n in 0..<count {
        let id = "sha256:\(arguments[2])-\(n)"
        try database.transaction {
            try database.query("INSERT INTO images (id, created, size, config) VALUES (?, ?, 0, x'7b7d')",
                               [.text(id), .integer(Int64(n))])
            try database.query("INSERT INTO image_names (name, image_id) VALUES (?, ?)",
                               [.text("localhost/\(arguments[2]):\(n)"), .text(id)])
        }
    }
    print(count)
} catch {
    say("StoreWriter: \(error)")
    exit(1)
}
