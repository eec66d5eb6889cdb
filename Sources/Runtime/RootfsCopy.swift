import CRuntime

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

    /// Copies the plan's layers into its rootfs directory.
    static func apply(_ plan: LaunchPlan, id: String) throws {
        guard let target = plan.rootfs else { return }
        let layers = plan.overlayLowerDirs.reversed() + (plan.overlayUpperDir.map { [$0] } ?? [])
        let args = ["/bin/bash", "-c", script, "rootfs-copy", target] + layers
        if !plan.newUserNamespace {
            let result = try Subprocess.run(args)
            guard result.status == 0 else {
                throw RuntimeError(.system, "\(id): copy the layers into \(target): \(result.stderr.trimmingNewline)")
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
        while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw RuntimeError(.system, "\(id): copying the layers into \(target) failed (status \(status >> 8))")
        }
    }

    /// Errors from the overlay mount that mean "not possible here", not "wrong".
    static func isUnavailable(_ error: RuntimeError) -> Bool {
        guard error.childStep == Int32(SKIFF_STEP_ROOTFS_MOUNT.rawValue), let e = error.errno else { return false }
        return [EPERM, EINVAL, ENODEV, EOPNOTSUPP, EACCES].contains(e)
    }
}
