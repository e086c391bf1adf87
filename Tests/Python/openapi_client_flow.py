"""Drives an afs-server through a client generated from its own /v1/openapi.json.

The client is produced by openapi-python-client (PyPI), a generator nobody here wrote, so this
checks that the document is complete and true enough for a team to build on: every call below
goes through the generated functions and models, none through hand-written HTTP.

usage: openapi_client_flow.py GENERATED_DIR BASE_URL ADMIN_TOKEN
Prints one JSON line with what it observed; exits non-zero (with the reason) on any surprise.
"""
import io
import os
import json
import sys
import tarfile

generated, base_url, token = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, generated)

from aetherfs_client import AuthenticatedClient  # noqa: E402
from aetherfs_client.api.sessions import (  # noqa: E402
    get_refs_by_name_policy, get_sessions_by_id, get_sessions_by_id_checkpoints, get_sessions_by_id_diff,
    post_sessions, post_sessions_by_id_checkpoints, post_sessions_by_id_commits, post_sessions_by_id_fork,
    post_sessions_by_id_promote, post_sessions_by_id_restore, post_sessions_import, put_refs_by_name_policy,
    get_refs,
)
from aetherfs_client.api.files import (  # noqa: E402
    get_sessions_by_id_files_by_path, put_sessions_by_id_files_by_path, get_sessions_by_id_tree,
    get_sessions_by_id_stat_by_path,
)
from aetherfs_client.api.coordination import (  # noqa: E402
    get_sessions_by_id_changes, get_sessions_by_id_review, post_sessions_by_id_review,
    post_sessions_by_id_review_approve,
)
from aetherfs_client.api.service import get_health  # noqa: E402
from aetherfs_client.models import (  # noqa: E402
    CheckpointRequest, CommitRequest, CreateSessionRequest, DiffEntry, Error, FileStat, ForkRequest,
    PromoteRequest, PromoteResult, RefPolicyRequest, RestoreRequest, ReviewRequest, SessionInfo, SessionSource,
    SessionSourceKind,
)
from aetherfs_client.types import File  # noqa: E402


def fail(message):
    print(json.dumps({"error": message}))
    sys.exit(1)


def expect(value, kind, what):
    if not isinstance(value, kind):
        fail(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
seen = {}
REF = f"py-main-{os.getpid()}"

health = get_health.sync(client=client)
seen["health"] = health.status

# A session from a tar archive uploaded as the body.
archive = io.BytesIO()
with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for name, text in [("README.md", "# demo\n"), ("src/main.py", "print('hello')\n")]:
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
project = expect(post_sessions_import.sync(client=client, body=File(payload=archive.getvalue()), name="py-project"), SessionInfo, "import")
seen["imported"] = project.name
tree = get_sessions_by_id_tree.sync(project.id, client=client, recursive=True)
seen["tree"] = sorted(e.path for e in tree)

# Write and read back (the path's slash goes percent-encoded, as the generator sends it).
stat = expect(put_sessions_by_id_files_by_path.sync(project.id, "src/util.py", client=client, body=File(payload=b"X = 1\n")), FileStat, "write")
seen["written_size"] = stat.size
read = get_sessions_by_id_files_by_path.sync_detailed(project.id, "src/util.py", client=client)
seen["read"] = read.content.decode()
stat = expect(get_sessions_by_id_stat_by_path.sync(project.id, "src/main.py", client=client), FileStat, "stat")
seen["stat_kind"] = stat.kind.value

# A blank session through the typed create body.
blank = expect(post_sessions.sync(client=client, body=CreateSessionRequest(source=SessionSource(kind=SessionSourceKind.BLANK), name="py-blank")), SessionInfo, "create")
seen["blank_status"] = blank.status.value

# The project's first commit becomes ref py-main, which then needs one approval per promote.
post_sessions_by_id_commits.sync(project.id, client=client, body=CommitRequest(message="base"))
first = expect(post_sessions_by_id_promote.sync(project.id, client=client, body=PromoteRequest(ref=REF)), PromoteResult, "promote base")
put_refs_by_name_policy.sync(REF, client=client, body=RefPolicyRequest(required_approvals=1))
seen["policy"] = get_refs_by_name_policy.sync(REF, client=client).required_approvals

# Fork, change the fork, diff it against its parent.
fork = expect(post_sessions_by_id_fork.sync(project.id, client=client, body=ForkRequest(name="py-agent")), SessionInfo, "fork")
put_sessions_by_id_files_by_path.sync(fork.id, "src/main.py", client=client, body=File(payload=b"print('changed')\n"))
diff = get_sessions_by_id_diff.sync(fork.id, client=client, against=project.id)
seen["diff"] = sorted((d.path, d.change.value) for d in diff)

# Checkpoint, break a file, restore.
checkpoint = post_sessions_by_id_checkpoints.sync(fork.id, client=client, body=CheckpointRequest(label="before"))
put_sessions_by_id_files_by_path.sync(fork.id, "src/main.py", client=client, body=File(payload=b"broken\n"))
post_sessions_by_id_restore.sync(fork.id, client=client, body=RestoreRequest(checkpoint=checkpoint.id))
restored = get_sessions_by_id_files_by_path.sync_detailed(fork.id, "src/main.py", client=client).content.decode()
seen["restored"] = restored
seen["checkpoints"] = [c.label for c in get_sessions_by_id_checkpoints.sync(fork.id, client=client)]

# Review, then promote into the ref.
post_sessions_by_id_commits.sync(fork.id, client=client, body=CommitRequest(message="agent work", author="py-agent"))
refused = post_sessions_by_id_promote.sync_detailed(fork.id, client=client, body=PromoteRequest(ref=REF))
seen["promote_before_review"] = refused.status_code.value
if not isinstance(refused.parsed, Error):
    fail(f"promote before review: expected an Error, got {refused.parsed!r}")
seen["promote_before_review_code"] = refused.parsed.error.code
post_sessions_by_id_review.sync(fork.id, client=client, body=ReviewRequest(required_approvals=1))
state = post_sessions_by_id_review_approve.sync(fork.id, client=client)
seen["review_status"] = get_sessions_by_id_review.sync(fork.id, client=client).status.value
result = expect(post_sessions_by_id_promote.sync(fork.id, client=client, body=PromoteRequest(ref=REF)), PromoteResult, "promote")
seen["promote"] = [first.outcome.value, result.outcome.value]
seen["ref_moved"] = any(r.name == REF and r.commit_id == result.commit_id for r in get_refs.sync(client=client))

# A changefeed page.
events = get_sessions_by_id_changes.sync(fork.id, client=client, since=0, limit=100)
seen["changes"] = [e.kind.value for e in events]
seen["session_after"] = get_sessions_by_id.sync(fork.id, client=client).status.value
print(json.dumps(seen, sort_keys=True))
