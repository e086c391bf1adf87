// The workspace records (Workspace, WorkspaceError, ConnectionInfo, …) live in AFSWorkspaceModel so
// clients (AFSClient, afs-server) can use them without linking the VM drivers; code that drives
// VMs sees them through this module as before.
@_exported import AFSWorkspaceModel
