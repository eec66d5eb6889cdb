import CLinux
import CRuntime
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// The copy fallback for an overlay root: where the kernel will not mount overlay, the layers
/// are copied into the mount point, lowest first, then the upper layer. Overlay whiteouts
/// (character devices 0/0) delete what lower layers put there. The copy runs in a user namespace
/// with the container's id map, so files keep the owners, modes and xattrs the layers give them.
enum RootfsCopy {
    /// The shell program that applies the layers; `$1` is the target, then the layers in order.
    static let script = #"""
        set -eu
        target=$1; shift
        for layer in "$@"; do
            # An opaque directory (listed in $layer.opaque by the runtime) hides what lower
            # layers put in it: empty it first.
            if [ -f "$layer.opaque" ]; then
                while IFS= read -r -d '' dir; do
                    if [ -d "$target/$dir" ]; then
                        find "$target/$dir" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
                    fi
                done < "$layer.opaque"
            fi
            excludes=$(mktemp)
            cd "$layer"
            find . -type c -print0 | while IFS= read -r -d '' path; do
                if [ "$(stat -c '%t:%T' "$path")" = "0:0" ]; then
                    rm -rf -- "$target/$path"
                    printf '%s\n' "$path" >> "$excludes"
                fi
            done
            tar --xattrs --numeric-owner -X "$excludes" -cf - . | tar -C "$target" --xattrs --numeric-owner -xpf -
            rm -f "$excludes"
        done
        """#

    /// Directories of `layer` that overlay treats as opaque (`user.overlay.opaque` or
    /// `trusted.overlay.opaque` set to "y"), relative to the layer.
    static func opaqueDirectories(in layer: String) -> [String] {
        var result: [String] = []
        func walk(_ relative: String) {
            let path = relative.isEmpty ? layer : layer + "/" + relative
            for name in FileSystem.directoryEntries(path) ?? [] {
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(layer + "/" + child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
                if isOpaque(layer + "/" + child) { result.append(child) }
                walk(child)
            }
        }
        walk("")
        return result
    }

    private static func isOpaque(_ path: String) -> Bool {
        for name in ["user.overlay.opaque", "trusted.overlay.opaque"] {
            var value: UInt8 = 0
            if skiff_lgetxattr(path, name, &value, 1) == 1 && value == UInt8(ascii: "y") { return true }
        }
        return false
    }

    /// Copies the plan's layers into its rootfs directory.
    static func apply(_ plan: LaunchPlan, id: String) throws {
        guard let target = plan.rootfs else { return }
        let layers = plan.overlayLowerDirs.reversed() + (plan.overlayUpperDir.map { [$0] } ?? [])
        // The opaque directories of each layer, NUL-separated, in a file beside the state.
        let scratch = try makeScratchDirectory()
        defer { FileSystem.removeTree(scratch) }
        var layerArguments: [String] = []
        for (i, layer) in layers.enumerated() {
            let opaque = opaqueDirectories(in: layer)
            guard !opaque.isEmpty else {
                layerArguments.append(layer)
                continue
            }
            // The script reads "$layer.opaque": give it a link to the layer with the list beside.
            let alias = scratch + "/layer\(i)"
            guard symlink(layer, alias) == 0 else { throw FileIO.system("\(id): symlink \(alias)") }
            try FileIO.writeAtomically(alias + ".opaque", Array(opaque.joined(separator: "\0").utf8) + [0], mode: 0o644)
            layerArguments.append(alias)
        }
        let args = ["/bin/bash", "-c", script, "rootfs-copy", target] + layerArguments
        if !plan.newUserNamespace {
            let result: (status: Int32, stderr: String)
            do {
                result = try Spawn.capturingErrors(args).finish()
            } catch {
                throw RuntimeError(error.errno == ENOENT ? .notFound : .system, "\(args[0]): \(error.text)", errno: error.errno)
            }
            guard result.status == 0 else {
                var message = result.stderr
                while message.hasSuffix("\n") { message.removeLast() }
                throw RuntimeError(.system, "\(id): copy the layers into \(target): \(message)")
            }
            return
        }
        var copy = LaunchPlan()
        copy.cloneFlags = Int32(SKIFF_CLONE_NEWUSER)
        copy.newUserNamespace = true
        copy.uidMappings = plan.uidMappings
        copy.gidMappings = plan.gidMappings
        let all = CapabilityMask.kernelKnown.rawValue
        copy.capabilities = (all, all, all, 0, 0)
        copy.args = args
        copy.env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
        let child = try ChildLauncher.launch(copy, idForErrors: "\(id): copy the layers")
        defer { close(child.sync) }
        try child.waitForExec(id: "\(id): copy the layers")
        var status: Int32 = 0
        _ = Syscall.retrying { waitpid(child.pid, &status, 0) }
        guard status == 0 else {
            throw RuntimeError(.system, "\(id): copying the layers into \(target) failed (status \(status >> 8))")
        }
    }

    private static func makeScratchDirectory() throws -> String {
        var template = Array("/tmp/skiff-rootfs-copy.XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FileIO.system("mkdtemp")
        }
        chmod(made, 0o755)
        return String(cString: made)
    }

    /// Errors from the overlay mount that mean "not possible here", not "wrong".
    static func isUnavailable(_ error: RuntimeError) -> Bool {
        guard error.childStep == Int32(SKIFF_STEP_ROOTFS_MOUNT.rawValue), let e = error.errno else { return false }
        return [EPERM, EINVAL, ENODEV, EOPNOTSUPP, EACCES].contains(e)
    }
}
