/// A public memberwise initializer, for archives written outside this module (docker build's
/// COPY, whose entries the service makes from the build context).
extension TarEntry {
    public init(path: String, kind: Kind, size: Int, mode: UInt32, uid: Int, gid: Int, mtime: Int64,
                linkTarget: String = "", deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
                xattrs: [(name: String, value: [UInt8])] = []) {
        self.init(path: path, kind: kind, size: size, mode: mode, uid: uid, gid: gid, mtime: mtime,
                  mtimeNanoseconds: 0, linkTarget: linkTarget, deviceMajor: deviceMajor, deviceMinor: deviceMinor,
                  xattrs: xattrs)
    }
}
