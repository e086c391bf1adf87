import AFSClient
import AFSTLS
import AFSWorkspaceModel
import ArgumentParser
import Foundation

/// `aether workspace`: VMs attached to a project, run by afs-vmd.
struct WorkspaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace",
        abstract: "Workspace VMs: a full Linux environment per project with a persistent volume and SSH (afs-vmd).",
        discussion: """
            Commands talk to afs-vmd: --workspaces-endpoint URL, or AFS_WORKSPACES_ENDPOINT, or [workspaces] endpoint in
            config.toml (default http://127.0.0.1:8790), with the token from afs-vmd's DATA/vmd.token
            (--workspaces-token, AFS_WORKSPACES_TOKEN, [workspaces] token or token_file).
            States: stopped, starting, running, stopping, error, stop_failed. A workspace stops by itself after
            idle_timeout seconds (default 600; 0 disables) without SSH sessions, running tasks or API calls.
            """,
        subcommands: [
            WorkspaceCreate.self, WorkspaceStart.self, WorkspaceStop.self, WorkspaceGet.self, WorkspaceList.self,
            WorkspaceUpdate.self, WorkspaceDelete.self, WorkspaceSSH.self, WorkspaceWait.self, WorkspaceLogs.self, WorkspaceEvents.self,
        ])
}
