import AFSCore
import PostgresNIO

/// The catalog's tables in PostgreSQL, as numbered migrations.
///
/// `afs_schema` records each migration applied. Migrating takes a transaction-scoped advisory
/// lock, so servers starting at once apply each migration exactly once; a database migrated by
/// a newer build (a version this build does not know) is refused rather than misread. Every
/// table is prefixed `afs_`, so the catalog can share a database with other applications.
enum PostgresSchema {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var sql: [String]
    }

    /// Arbitrary, fixed: the advisory lock key that serializes migrations.
    static let migrationLockKey: Int64 = 0x4146_535F_4D49_4752  // "AFS_MIGR"

    static let migrations: [Migration] = [
        Migration(version: 1, name: "catalog, coordination and journals", sql: [
            """
            CREATE TABLE afs_session (
                id text PRIMARY KEY, name text, status text NOT NULL, parent_id text, source text NOT NULL,
                root text NOT NULL, base_commit text, head_commit text,
                created_at double precision NOT NULL, updated_at double precision NOT NULL, journal_generation bigint NOT NULL)
            """,
            "CREATE INDEX afs_session_status ON afs_session (status)",
            """
            CREATE TABLE afs_checkpoint (
                id text PRIMARY KEY, session_id text NOT NULL, root text NOT NULL, label text,
                created_at double precision NOT NULL, change_seq bigint NOT NULL, position bigserial)
            """,
            "CREATE INDEX afs_checkpoint_session ON afs_checkpoint (session_id)",
            """
            CREATE TABLE afs_commit (
                id text PRIMARY KEY, root text NOT NULL, parents text NOT NULL, message text NOT NULL,
                author text NOT NULL, created_at double precision NOT NULL, session_id text)
            """,
            "CREATE TABLE afs_ref (name text PRIMARY KEY, commit_id text NOT NULL, updated_at double precision NOT NULL)",
            """
            CREATE TABLE afs_snapshot (
                name text PRIMARY KEY, root text NOT NULL, session_id text, created_at double precision NOT NULL)
            """,
            """
            CREATE TABLE afs_change_event (
                session_id text NOT NULL, seq bigint NOT NULL, kind text NOT NULL, path text NOT NULL,
                size bigint, content_id text, actor text NOT NULL, time bigint NOT NULL, detail text,
                PRIMARY KEY (session_id, seq))
            """,
            "CREATE TABLE afs_change_floor (session_id text PRIMARY KEY, floor bigint NOT NULL)",
            """
            CREATE TABLE afs_bus_message (
                session_id text NOT NULL, topic text NOT NULL, msg_offset bigint NOT NULL, sender text NOT NULL,
                payload text NOT NULL, time bigint NOT NULL, PRIMARY KEY (session_id, topic, msg_offset))
            """,
            // Fencing tokens come from a sequence: strictly increasing, never reused, even when
            // leases are deleted or a transaction rolls back.
            "CREATE SEQUENCE afs_fencing_token",
            """
            CREATE TABLE afs_lease (
                token bigint PRIMARY KEY, session_id text NOT NULL, path text NOT NULL, prefix boolean NOT NULL,
                exclusive boolean NOT NULL, holder text NOT NULL, expires_at double precision NOT NULL)
            """,
            "CREATE INDEX afs_lease_session ON afs_lease (session_id)",
            """
            CREATE TABLE afs_annotation (
                id text PRIMARY KEY, session_id text NOT NULL, path text, line_start bigint, line_end bigint,
                commit_id text, author text NOT NULL, kind text NOT NULL, text text NOT NULL, time bigint NOT NULL)
            """,
            "CREATE INDEX afs_annotation_session ON afs_annotation (session_id)",
            """
            CREATE TABLE afs_review (
                session_id text PRIMARY KEY, reviewers text NOT NULL, required bigint NOT NULL,
                requested_by text NOT NULL, time bigint NOT NULL)
            """,
            """
            CREATE TABLE afs_review_decision (
                session_id text NOT NULL, reviewer text NOT NULL, approved boolean NOT NULL, comment text NOT NULL,
                time bigint NOT NULL, PRIMARY KEY (session_id, reviewer))
            """,
            "CREATE TABLE afs_ref_policy (ref text PRIMARY KEY, required_approvals bigint NOT NULL)",
            """
            CREATE TABLE afs_knowledge (
                scope text NOT NULL, key text NOT NULL, value text NOT NULL, tags text NOT NULL,
                author text NOT NULL, time bigint NOT NULL, PRIMARY KEY (scope, key))
            """,
            """
            CREATE TABLE afs_journal (
                session_id text NOT NULL, generation bigint NOT NULL, seq bigint NOT NULL, record bytea NOT NULL,
                PRIMARY KEY (session_id, generation, seq))
            """,
            // The store's identity (binds an object-storage prefix to this catalog) and the server
            // that holds the catalog now (named in the error another server gets).
            "CREATE TABLE afs_store (id integer PRIMARY KEY CHECK (id = 1), identity text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
            """
            CREATE TABLE afs_owner (
                id integer PRIMARY KEY CHECK (id = 1), host text NOT NULL, pid bigint NOT NULL, since timestamptz NOT NULL DEFAULT now())
            """,
        ]),
        Migration(version: 2, name: "tokens, tenants and session ownership", sql: [
            """
            CREATE TABLE afs_token (
                id text PRIMARY KEY, secret_hash text NOT NULL UNIQUE, tenant text NOT NULL, role text NOT NULL,
                label text, created_at double precision NOT NULL)
            """,
            "CREATE TABLE afs_ownership (session_id text PRIMARY KEY, tenant text NOT NULL)",
            "CREATE INDEX afs_ownership_tenant ON afs_ownership (tenant)",
            """
            CREATE TABLE afs_usage (
                tenant text NOT NULL, session_id text NOT NULL, op text NOT NULL, count bigint NOT NULL,
                PRIMARY KEY (tenant, session_id, op))
            """,
        ]),
        Migration(version: 3, name: "console sign-ins", sql: [
            """
            CREATE TABLE afs_sign_in (
                id_hash text PRIMARY KEY, token_hash text NOT NULL, csrf text NOT NULL, expires_at double precision NOT NULL)
            """,
            "CREATE INDEX afs_sign_in_expiry ON afs_sign_in (expires_at)",
        ]),
        Migration(version: 4, name: "replicas and session owners", sql: [
            // Each serving process (replica) has a row and, while it lives, holds the advisory
            // lock (replicaLockSpace, number) on a connection of its own: the database itself says
            // which replicas are alive, however one died.
            """
            CREATE TABLE afs_replica (
                id text PRIMARY KEY, number bigserial UNIQUE, address text NOT NULL, grpc_address text NOT NULL DEFAULT '', host text NOT NULL, pid bigint NOT NULL,
                since timestamptz NOT NULL DEFAULT now())
            """,
            """
            CREATE VIEW afs_live_replica AS SELECT r.* FROM afs_replica r WHERE EXISTS (
                SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND l.classid::bigint = \(PostgresBackend.replicaLockSpace) AND l.objid::bigint = r.number)
            """,
            // Which replica holds each session open, under which fencing epoch (raised by every
            // change of owner; journal rows and session updates are written only under the current one).
            """
            CREATE TABLE afs_session_owner (
                session_id text PRIMARY KEY, replica_id text NOT NULL, epoch bigint NOT NULL, since timestamptz NOT NULL DEFAULT now())
            """,
            "CREATE INDEX afs_session_owner_replica ON afs_session_owner (replica_id)",
            // Request budgets per token, shared by the replicas (SharedRequestBudget); times are
            // the database's clock in seconds since 1970.
            // Garbage collections while replicas serve: the run, which replicas joined it, and the
            // chunks their uploads in progress hold (roots of the run).
            "CREATE TABLE afs_gc_run (id bigserial PRIMARY KEY, collector text NOT NULL, state text NOT NULL, started timestamptz NOT NULL DEFAULT now())",
            "CREATE TABLE afs_gc_ack (run bigint NOT NULL, replica_id text NOT NULL, PRIMARY KEY (run, replica_id))",
            "CREATE TABLE afs_gc_seen (run bigint NOT NULL, chunk text NOT NULL)",
            "CREATE INDEX afs_gc_seen_run ON afs_gc_seen (run)",
            """
            CREATE TABLE afs_rate_bucket (
                key text PRIMARY KEY, tokens double precision NOT NULL, updated double precision NOT NULL,
                granted double precision NOT NULL)
            """,
        ]),
        // The owning tenant lives in the session's row, written by the same statement that
        // creates the session: a create or fork is one commit, and no crash leaves a session
        // without its owner. The owners recorded until now move in with this migration.
        Migration(version: 5, name: "session tenant in the session row", sql: [
            "ALTER TABLE afs_session ADD COLUMN tenant text",
            "UPDATE afs_session s SET tenant = o.tenant FROM afs_ownership o WHERE o.session_id = s.id",
            "DROP TABLE afs_ownership",
        ]),
    ]

    static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Applies every migration the database lacks, each in its own transaction.
    static func migrate(_ backend: PostgresBackend) throws(AFSError) {
        let logger = backend.logger
        // Under the migration lock: two servers creating the table at once would otherwise race
        // in the system catalog (a unique violation on pg_type).
        try backend.transaction("create the schema table") { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS afs_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
        }
        let applied = try version(backend)
        if applied > latestVersion {
            throw AFSError(
                .unsupportedFormat,
                "the catalog at \(backend.location) has schema version \(applied); this build knows up to \(latestVersion). Run a newer afs-server")
        }
        for migration in migrations where migration.version > applied {
            try backend.transaction("migration \(migration.version) (\(migration.name))") { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLockKey))", logger: logger)
                // Another server may have applied it while this one waited for the lock.
                let done = try await connection.query("SELECT 1 FROM afs_schema WHERE version = \(migration.version)", logger: logger).collect()
                if !done.isEmpty { return }
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO afs_schema (version, name) VALUES (\(migration.version), \(migration.name))", logger: logger)
            }
        }
    }

    /// The highest migration applied (0: none).
    static func version(_ backend: PostgresBackend) throws(AFSError) -> Int {
        let logger = backend.logger
        return try backend.perform("read the schema version") { client in
            let rows = try await client.query("SELECT COALESCE(MAX(version), 0) AS v FROM afs_schema", logger: logger).rows()
            return try rows.first.map { try $0["v"].decode(Int.self) } ?? 0
        }
    }
}
