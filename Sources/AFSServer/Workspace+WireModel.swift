import AFSWire
import AFSWorkspaceModel

// afs-vmd's records, as afs-server's workspace gateway passes them on.

extension Workspace: WireModel {
    public static var wireDescription: String { "A workspace VM attached to a session (its project)." }
}
extension WorkspaceEvent: WireModel {}
extension WorkspaceHardware: WireModel {}
extension RuntimeHandle: WireModel {
    public static var wireName: String { "WorkspaceRuntime" }
}
extension WorkspaceStatus: WireEnum {}
extension DesiredState: WireEnum {
    public static var wireName: String { "WorkspaceDesiredState" }
}
extension WorkspaceHardware.CPUKind: WireEnum {
    public static var wireName: String { "CPUKind" }
}
