import GRDB

extension AppDatabase {
    /// The first id of the worker's events. The two event logs share one id space so that `autonousctl events`
    /// can merge them with parent ids intact: the supervisor's ids count up from 1, the worker's from 2^40.
    public static let workerEventIDBase: Int64 = 1 << 40

    /// The supervisor's schema (`autonous.db`), one migration per change. Never edit a shipped migration: add one.
    ///
    /// `s1-events` uses IF NOT EXISTS because a state directory of an earlier version has the events table already
    /// (with every other table, which `LegacyStateSplit` moves to the worker's database).
    static var supervisorMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("s1-events") { db in
            try db.execute(sql: eventsTable(parentReference: "REFERENCES events(id)", ifNotExists: true))
        }
        migrator.registerMigration("s2-revisions") { db in
            try db.execute(sql: revisionsTable)
        }
        migrator.registerMigration("s3-transactions") { db in
            try db.execute(sql: transactionTables)
        }
        migrator.registerMigration("s4-events-without-parent-index") { db in
            try db.execute(sql: dropEventsParentIndex)
        }
        migrator.registerMigration("s5-events-without-time-index") { db in
            try db.execute(sql: dropEventsTimeIndex)
        }
        migrator.registerMigration("s6-events-without-autoincrement") { db in
            // The supervisor keeps `events_run`: its run-tagged events are a proposal's transaction steps, written
            // long after the run ended, and it has no `runs` table to hold a span. It appends a few events a
            // minute, so the index costs it nothing that shows.
            try db.execute(sql: rebuildEventsTable(parentReference: "REFERENCES events(id)", runIndex: true))
        }
        return migrator
    }

    /// The worker's schema (`worker/worker.db`), one migration per change. Never edit a shipped migration: add one.
    static var workerMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("w1-core") { db in
            // An event's parent may be in the supervisor's log (the worker's spawn), so no foreign key on it.
            try db.execute(sql: eventsTable(parentReference: "", ifNotExists: false))
            try db.execute(
                sql: "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)",
                arguments: [workerEventIDBase - 1])
            try db.execute(sql: workerTables)
        }
        migrator.registerMigration("w2-inbox-lanes") { db in
            // Messages are claimed per chat (one lane per conversation, in update_id order), and a row whose reply
            // could not be delivered waits until not_before_ms before it is claimed again.
            try db.execute(
                sql: """
                    ALTER TABLE inbox ADD COLUMN not_before_ms INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX inbox_chat_lane ON inbox(chat_id, status, update_id);
                    """)
        }
        migrator.registerMigration("w3-outbox-reply-markup") { db in
            // A chunk may carry inline buttons (a staged self-update's Approve and Reject): the Bot API's
            // reply_markup object, sent with the chunk, so a restart sends the buttons it would have sent.
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN reply_markup TEXT
                        CHECK (reply_markup IS NULL OR json_valid(reply_markup));
                    """)
        }
        migrator.registerMigration("w4-agent-history") { db in
            try db.execute(sql: agentHistoryTables)
        }
        migrator.registerMigration("w5-chat-conversations") { db in
            // A chat's current conversation: /new starts another, so history before it is no longer sent.
            try db.execute(
                sql: """
                    CREATE TABLE chat_conversations (
                        chat TEXT PRIMARY KEY CHECK (length(chat) > 0),
                        conversation_id TEXT NOT NULL CHECK (length(conversation_id) > 0),
                        started_ms INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("w6-spend-ledger") { db in
            try db.execute(sql: SpendLedger.table)
        }
        migrator.registerMigration("w7-outbox-parse-mode") { db in
            // The agent's replies go out as Telegram HTML (parse_mode). A chunk Telegram cannot parse is sent as
            // its visible text instead; plain_fallback keeps Telegram's reason, so a restart sends it as plain text
            // at once.
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN parse_mode TEXT CHECK (parse_mode IS NULL OR parse_mode IN ('HTML'));
                    ALTER TABLE outbox ADD COLUMN plain_fallback TEXT;
                    """)
        }
        migrator.registerMigration("w8-prompt-components") { db in
            // The per-component estimates (tokens_system, tokens_history, tokens_context, tokens_tool_output) and
            // context_profile are in model_calls since w1-core; the context subsystem adds the tool definitions'
            // estimate and how hard the history was compressed (harder after a context-length error).
            try db.execute(
                sql: """
                    ALTER TABLE model_calls ADD COLUMN tokens_tools INTEGER;
                    ALTER TABLE model_calls ADD COLUMN context_level TEXT
                        CHECK (context_level IS NULL OR context_level IN ('normal', 'harder'));
                    """)
        }
        migrator.registerMigration("w9-events-without-parent-index") { db in
            try db.execute(sql: dropEventsParentIndex)
        }
        migrator.registerMigration("w10-events-without-time-index") { db in
            try db.execute(sql: dropEventsTimeIndex)
        }
        migrator.registerMigration("w11-events-by-run-span") { db in
            try db.execute(sql: runSpans)
            try db.execute(sql: rebuildEventsTable(parentReference: "", runIndex: false))
            try db.execute(sql: runSpanTrigger)
            try db.execute(
                sql: """
                    INSERT INTO events (id, ts_ms, type, payload)
                    SELECT ?, ?, ?, json_object('first_worker_id', ?)
                    WHERE NOT EXISTS (SELECT 1 FROM events WHERE id >= ?)
                    """,
                arguments: [
                    workerEventIDBase - 1, nowMilliseconds(), EventType.eventLogCreated.rawValue, workerEventIDBase,
                    workerEventIDBase - 1,
                ])
        }
        return migrator
    }

    /// No query reads events by parent: a run's tree is read by run id (`events_run`) and hung on the parent ids
    /// in memory, and events are never deleted, so a parent's children are never looked up either. The index cost
    /// every append one more page written to the WAL (about a tenth of an append's time).
    static let dropEventsParentIndex = "DROP INDEX IF EXISTS events_parent"

    /// No query reads events by time through the `(ts_ms, id)` index: `autonousctl events --since` pages in id
    /// order (`ORDER BY id LIMIT`), so SQLite walks the rowids and checks `ts_ms` on the way, and `trace` reads by
    /// run id. The index cost every append one more page written to the WAL (about a tenth of its time).
    static let dropEventsTimeIndex = "DROP INDEX IF EXISTS events_time"

    /// Each run's span of event ids, `[first_event_id, last_event_id]`, so that `trace` and `events --run` read a
    /// run's events along the rowid instead of through a run index on `events`: that index cost every append one
    /// more page written to the WAL (a quarter of an append's time). Filled here from the run index, which the
    /// rebuild of `events` that follows drops. `last_event_id` is NULL while a run goes on (its span reaches the end
    /// of the log). A run's events from before this migration are all in its span; `RunLog` and the
    /// `events_extend_run_span` trigger keep it so for every event written after.
    static let runSpans = """
        ALTER TABLE runs ADD COLUMN first_event_id INTEGER;
        ALTER TABLE runs ADD COLUMN last_event_id INTEGER;
        UPDATE runs SET first_event_id = coalesce((SELECT min(id) FROM events WHERE run_id = runs.id), event_id, 0);
        UPDATE runs SET last_event_id = coalesce((SELECT max(id) FROM events WHERE run_id = runs.id), first_event_id)
            WHERE status <> 'running';
        """

    /// An event of a run that already ended (a failure the commander records after the agent gave up, a button
    /// pressed late) widens the run's span. A running run's span is open-ended (`last_event_id` NULL), so while a
    /// run goes on this is one lookup in `runs` by primary key and writes nothing.
    static let runSpanTrigger = """
        CREATE TRIGGER events_extend_run_span AFTER INSERT ON events WHEN NEW.run_id IS NOT NULL
        BEGIN UPDATE runs SET last_event_id = NEW.id WHERE id = NEW.run_id AND last_event_id < NEW.id; END;
        """

    /// Rebuilds `events` with the same columns, rows and ids, without AUTOINCREMENT: it made every append write
    /// `sqlite_sequence` too, one more page in the WAL. Ids still only grow, since rows are never deleted (the
    /// triggers refuse it): a new row gets the highest id plus one. The worker's ids stay above
    /// `workerEventIDBase` by a first row just below it (`event_log.created`, written by `w11` when the log has no
    /// row that high yet). Keeps only `events_type` (`autonousctl events --type`), and `events_run` when
    /// `runIndex`.
    static func rebuildEventsTable(parentReference: String, runIndex: Bool) -> String {
        """
        CREATE TABLE events_rebuilt (\(eventsColumns(id: "INTEGER PRIMARY KEY", parentReference: parentReference)));
        INSERT INTO events_rebuilt (id, ts_ms, parent_id, run_id, conversation_id, type, payload)
            SELECT id, ts_ms, parent_id, run_id, conversation_id, type, payload FROM events ORDER BY id;
        DROP TABLE events;
        ALTER TABLE events_rebuilt RENAME TO events;
        \(runIndex ? "CREATE INDEX events_run ON events(run_id);" : "")
        CREATE INDEX events_type ON events(type, id);
        CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
        CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
        """
    }

    /// History that keeps a run's tool turns (an assistant message with its tool calls, one `tool` message per
    /// result), so the next run sees what tools returned; and `runs`, one row per agent run with how it stopped and
    /// what it spent. SQLite cannot change a CHECK constraint in place, so `messages` is rebuilt with its rows kept.
    /// A user message tied to an inbox row is still stored once however often the row is retried; the assistant
    /// and tool messages of an attempt that did not finish are replaced by the next attempt's.
    static let agentHistoryTables = """
        CREATE TABLE messages_v4 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT,
            tool_calls TEXT CHECK (tool_calls IS NULL OR (json_valid(tool_calls) AND json_type(tool_calls) = 'array')),
            tool_call_id TEXT,
            tool_name TEXT,
            inbox_id INTEGER REFERENCES inbox(id),
            run_id TEXT,
            ts_ms INTEGER NOT NULL,
            CHECK ((role = 'tool') = (tool_call_id IS NOT NULL)),
            CHECK (content IS NOT NULL OR tool_calls IS NOT NULL)
        );
        INSERT INTO messages_v4 (id, conversation_id, role, content, inbox_id, run_id, ts_ms)
            SELECT id, conversation_id, role, content, inbox_id, run_id, ts_ms FROM messages ORDER BY id;
        DROP TABLE messages;
        ALTER TABLE messages_v4 RENAME TO messages;
        CREATE INDEX messages_conversation ON messages(conversation_id, id);
        CREATE INDEX messages_run ON messages(run_id);
        CREATE UNIQUE INDEX messages_inbox_user ON messages(inbox_id) WHERE role = 'user' AND inbox_id IS NOT NULL;

        CREATE TABLE runs (
            id TEXT PRIMARY KEY CHECK (length(id) > 0),
            conversation_id TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id),
            commander TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            event_id INTEGER,
            provider TEXT,
            model TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'answered', 'stopped', 'failed', 'cancelled', 'interrupted')),
            stop_reason TEXT,
            turns INTEGER NOT NULL DEFAULT 0,
            model_calls INTEGER NOT NULL DEFAULT 0,
            tool_calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            reasoning_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            error TEXT,
            started_ms INTEGER NOT NULL,
            ended_ms INTEGER,
            CHECK ((status = 'running') = (ended_ms IS NULL))
        );
        CREATE INDEX runs_started ON runs(started_ms);
        CREATE INDEX runs_conversation ON runs(conversation_id, started_ms);
        CREATE INDEX runs_inbox ON runs(inbox_id);

        ALTER TABLE model_calls ADD COLUMN turn INTEGER;
        ALTER TABLE model_calls ADD COLUMN time_to_first_token_ms INTEGER;
        ALTER TABLE model_calls ADD COLUMN reasoning_tokens INTEGER;
        ALTER TABLE model_calls ADD COLUMN error_class TEXT;
        ALTER TABLE model_calls ADD COLUMN streamed INTEGER NOT NULL DEFAULT 0 CHECK (streamed IN (0, 1));
        CREATE INDEX model_calls_time ON model_calls(ts_ms);
        """

    /// The columns of `events`; `id` is the id column's type and constraint.
    static func eventsColumns(id: String, parentReference: String) -> String {
        """
        id \(id), ts_ms INTEGER NOT NULL, parent_id INTEGER \(parentReference), run_id TEXT, conversation_id TEXT,
        type TEXT NOT NULL CHECK (length(type) > 0), payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
        """
    }

    /// The append-only events table as `s1-events` and `w1-core` created it; `parentReference` is its parent_id
    /// constraint. `rebuildEventsTable` gives its shape now.
    static func eventsTable(parentReference: String, ifNotExists: Bool) -> String {
        let guardClause = ifNotExists ? "IF NOT EXISTS " : ""
        return """
            CREATE TABLE \(guardClause)events (\(
                eventsColumns(id: "INTEGER PRIMARY KEY AUTOINCREMENT", parentReference: parentReference)));
            CREATE INDEX \(guardClause)events_parent ON events(parent_id);
            CREATE INDEX \(guardClause)events_run ON events(run_id);
            CREATE INDEX \(guardClause)events_type ON events(type, id);
            CREATE INDEX \(guardClause)events_time ON events(ts_ms, id);
            CREATE TRIGGER \(guardClause)events_append_only_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
            CREATE TRIGGER \(guardClause)events_append_only_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
            """
    }

    /// The revision log: one row per state change of one revision, and what the `current`, `last-good` and
    /// `previous-good` symlinks must name after that change. The newest row is the write-ahead record a restarted
    /// supervisor makes the symlinks match, so a kill between the commit and the flip loses nothing. Append-only
    /// like the events, so the history of what ran cannot be rewritten.
    static let revisionsTable = """
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts_ms INTEGER NOT NULL,
            sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
            state TEXT NOT NULL CHECK (length(state) > 0),
            reason TEXT,
            current TEXT,
            last_good TEXT,
            previous_good TEXT,
            event_id INTEGER REFERENCES events(id)
        );
        CREATE INDEX revisions_sha256 ON revisions(sha256, id);
        CREATE TRIGGER revisions_append_only_update BEFORE UPDATE ON revisions
        BEGIN SELECT RAISE(ABORT, 'revisions are append-only: UPDATE is not allowed'); END;
        CREATE TRIGGER revisions_append_only_delete BEFORE DELETE ON revisions
        BEGIN SELECT RAISE(ABORT, 'revisions are append-only: DELETE is not allowed'); END;
        """

    /// The self-update transactions: one mutable row per transaction (its state now and what the pipeline learnt),
    /// the append-only history of its steps, and the append-only update approvals.
    ///
    /// What a proposal was (id, base, patch, who asked) never changes once written, and an artifact sha256 once set
    /// never changes either: an approval is bound to it. `update_approvals` holds at most one decision per
    /// transaction, so of two decisions at once exactly one can be recorded. Ids are `tx-` and 8 characters of
    /// lowercase base32: the dash keeps them apart from tool-approval ids (lowercase letters and digits only).
    static let transactionTables = """
        CREATE TABLE transactions (
            id TEXT PRIMARY KEY CHECK (id GLOB 'tx-[a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7][a-z2-7]'),
            state TEXT NOT NULL CHECK (length(state) > 0),
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            run_id TEXT,
            base_revision TEXT NOT NULL CHECK (length(base_revision) = 64),
            base_commit TEXT NOT NULL,
            patch_sha256 TEXT NOT NULL CHECK (length(patch_sha256) = 64),
            patch_bytes INTEGER NOT NULL CHECK (patch_bytes > 0),
            "commit" TEXT,
            artifact_sha256 TEXT CHECK (artifact_sha256 IS NULL OR length(artifact_sha256) = 64),
            diffstat TEXT,
            tests_passed INTEGER CHECK (tests_passed IS NULL OR tests_passed >= 0),
            tests_failed INTEGER CHECK (tests_failed IS NULL OR tests_failed >= 0),
            reason TEXT,
            expires_ms INTEGER
        );
        CREATE INDEX transactions_state ON transactions(state, created_ms);
        CREATE TRIGGER transactions_proposal_immutable
        BEFORE UPDATE OF id, created_ms, title, summary, requested_by, run_id, base_revision, base_commit,
            patch_sha256, patch_bytes ON transactions
        BEGIN SELECT RAISE(ABORT, 'a transaction''s proposal is immutable'); END;
        CREATE TRIGGER transactions_artifact_immutable BEFORE UPDATE OF artifact_sha256 ON transactions
        WHEN OLD.artifact_sha256 IS NOT NULL AND NEW.artifact_sha256 IS NOT OLD.artifact_sha256
        BEGIN SELECT RAISE(ABORT, 'a transaction''s artifact sha256 is immutable once set'); END;
        CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
        BEGIN SELECT RAISE(ABORT, 'transactions are never deleted'); END;

        CREATE TABLE transaction_steps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tx TEXT NOT NULL REFERENCES transactions(id),
            ts_ms INTEGER NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL CHECK (length(to_state) > 0),
            reason TEXT,
            event_id INTEGER REFERENCES events(id)
        );
        CREATE INDEX transaction_steps_tx ON transaction_steps(tx, id);
        CREATE TRIGGER transaction_steps_append_only_update BEFORE UPDATE ON transaction_steps
        BEGIN SELECT RAISE(ABORT, 'transaction steps are append-only: UPDATE is not allowed'); END;
        CREATE TRIGGER transaction_steps_append_only_delete BEFORE DELETE ON transaction_steps
        BEGIN SELECT RAISE(ABORT, 'transaction steps are append-only: DELETE is not allowed'); END;

        CREATE TABLE update_approvals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tx TEXT NOT NULL UNIQUE REFERENCES transactions(id),
            artifact_sha256 TEXT NOT NULL CHECK (length(artifact_sha256) = 64),
            decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
            decided_by TEXT NOT NULL CHECK (length(decided_by) > 0),
            via TEXT NOT NULL CHECK (via IN ('telegram', 'shell')),
            ts_ms INTEGER NOT NULL,
            event_id INTEGER REFERENCES events(id)
        );
        CREATE TRIGGER update_approvals_append_only_update BEFORE UPDATE ON update_approvals
        BEGIN SELECT RAISE(ABORT, 'update approvals are append-only: UPDATE is not allowed'); END;
        CREATE TRIGGER update_approvals_append_only_delete BEFORE DELETE ON update_approvals
        BEGIN SELECT RAISE(ABORT, 'update approvals are append-only: DELETE is not allowed'); END;
        """

    /// The tables the worker owns besides its events, in the shape every earlier version wrote them (a state
    /// directory of an earlier version is copied over column by column).
    ///
    /// Approvals: tool approvals now; a decision is a conditional UPDATE of a pending row, so exactly one of
    /// approve, reject and expire wins.
    static let workerTables = """
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            update_id INTEGER NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            chat_id INTEGER,
            user_id INTEGER,
            text TEXT,
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'in_progress', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            outcome TEXT,
            error TEXT,
            run_id TEXT,
            received_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX inbox_status ON inbox(status, id);

        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            inbox_id INTEGER REFERENCES inbox(id),
            conversation_id TEXT NOT NULL,
            chat_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            telegram_message_id INTEGER,
            error TEXT,
            created_ms INTEGER NOT NULL,
            sent_ms INTEGER,
            UNIQUE (inbox_id, seq)
        );
        CREATE INDEX outbox_status ON outbox(status, id);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id),
            run_id TEXT,
            ts_ms INTEGER NOT NULL,
            UNIQUE (inbox_id, role)
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, id);

        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts_ms INTEGER NOT NULL,
            run_id TEXT,
            conversation_id TEXT,
            event_id INTEGER REFERENCES events(id),
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            http_status INTEGER,
            latency_ms INTEGER NOT NULL,
            retries INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cached_tokens INTEGER,
            tokens_system INTEGER,
            tokens_history INTEGER,
            tokens_context INTEGER,
            tokens_tool_output INTEGER,
            context_profile TEXT,
            finish_reason TEXT,
            error TEXT
        );
        CREATE INDEX model_calls_run ON model_calls(run_id);
        CREATE TABLE approvals (
            id TEXT PRIMARY KEY CHECK (length(id) BETWEEN 4 AND 32),
            kind TEXT NOT NULL CHECK (kind IN ('tool', 'update')),
            subject TEXT NOT NULL,
            arguments TEXT NOT NULL CHECK (json_valid(arguments)),
            arguments_sha256 TEXT NOT NULL,
            tier TEXT,
            summary TEXT NOT NULL,
            run_id TEXT,
            conversation_id TEXT,
            event_id INTEGER REFERENCES events(id),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
            created_ms INTEGER NOT NULL,
            expires_ms INTEGER NOT NULL CHECK (expires_ms > created_ms),
            decided_ms INTEGER,
            decided_by TEXT,
            decided_via TEXT CHECK (decided_via IN ('telegram', 'autonousctl', 'timeout')),
            notices TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(notices)),
            CHECK ((status = 'pending') = (decided_ms IS NULL))
        );
        CREATE INDEX approvals_status ON approvals(status, expires_ms);
        """
}
