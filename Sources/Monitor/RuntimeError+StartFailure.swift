import CRuntime
import MonitorProtocol
import Runtime

extension RuntimeError {
    /// The step a failure in the container's process reports to the service (nil for one
    /// outside it: the caller knows whether it was creating or starting).
    var failureStep: StartFailure.Step? {
        guard let step = childStep else { return nil }
        switch UInt32(bitPattern: step) {
        case SKIFF_STEP_EXEC.rawValue:
            return .exec
        case SKIFF_STEP_MOUNT.rawValue, SKIFF_STEP_ROOTFS_MOUNT.rawValue, SKIFF_STEP_ROOTFS_BIND.rawValue,
             SKIFF_STEP_MOUNT_PRIVATE.rawValue:
            return .mount
        default:
            return .child
        }
    }
}
