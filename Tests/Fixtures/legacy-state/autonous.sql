PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES('v1-core');
INSERT INTO grdb_migrations VALUES('v2-approvals');
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    parent_id INTEGER REFERENCES events(id),
    run_id TEXT,
    conversation_id TEXT,
    type TEXT NOT NULL CHECK (length(type) > 0),
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload))
);
INSERT INTO events VALUES(1,1796464643240,NULL,NULL,NULL,'process.started','{"model_configured":true,"pid":10426,"state_dir":"/tmp/legacy/st","telegram_enabled":true,"uid":0,"version":"0.1.0"}');
INSERT INTO events VALUES(2,1796464645066,1,NULL,NULL,'worker.spawning','{"attempt":0,"binary":"/work/main/.build/debug/autonous-worker","revision":"bootstrap-2c4d74a1b018"}');
INSERT INTO events VALUES(3,1796464645074,2,NULL,NULL,'worker.spawned','{"pid":10471,"revision":"bootstrap-2c4d74a1b018"}');
INSERT INTO events VALUES(4,1796464645320,2,NULL,NULL,'worker.ready','{"pid":10471,"revision":"bootstrap-2c4d74a1b018","startup_ms":244}');
INSERT INTO events VALUES(5,1796464647242,2,NULL,'telegram:111','telegram.update.stored','{"chat_id":111,"kind":"message","update_id":100000,"user_id":111}');
INSERT INTO events VALUES(6,1796464647429,2,'86cf86c9-5018-4994-8139-28c928293766','telegram:111','agent.started','{"attempt":1,"commander":"telegram","inbox_id":1,"update_id":100000}');
INSERT INTO events VALUES(7,1796464647432,6,'86cf86c9-5018-4994-8139-28c928293766','telegram:111','turn.started','{"messages":2,"model":"gpt-fake","tools":7,"turn":1}');
INSERT INTO events VALUES(8,1796464647447,7,'86cf86c9-5018-4994-8139-28c928293766','telegram:111','turn.completed','{"finish_reason":"stop","input_tokens":47,"latency_ms":12,"output_tokens":1,"reply_chars":6,"retries":0,"tool_calls":0}');
INSERT INTO events VALUES(9,1796464647447,6,'86cf86c9-5018-4994-8139-28c928293766','telegram:111','agent.completed','{"outcome":"answered","turns":1}');
INSERT INTO events VALUES(10,1796464647521,2,NULL,'telegram:222','telegram.update.stored','{"chat_id":222,"kind":"message","update_id":100001,"user_id":222}');
INSERT INTO events VALUES(11,1796464647550,2,NULL,'telegram:999','telegram.update.stored','{"chat_id":999,"kind":"message","update_id":100002,"user_id":999}');
INSERT INTO events VALUES(12,1796464647585,2,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','agent.started','{"attempt":1,"commander":"telegram","inbox_id":2,"update_id":100001}');
INSERT INTO events VALUES(13,1796464647587,12,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','turn.started','{"messages":2,"model":"gpt-fake","tools":7,"turn":1}');
INSERT INTO events VALUES(14,1796464647609,13,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','turn.completed','{"finish_reason":"tool_calls","input_tokens":46,"latency_ms":20,"output_tokens":12,"retries":0,"tool_calls":1}');
INSERT INTO events VALUES(15,1796464647610,13,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','tool_call.started','{"arguments":"{\"command\":\"echo hi\",\"network\":[\"127.0.0.1:9\"]}","call_id":"call_1","tier":"network","tool":"bash"}');
INSERT INTO events VALUES(16,1796464647612,15,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','approval.requested','{"approval_id":"yd5jbhrp","arguments_sha256":"230f6ad4d44c87e01c28d643acaa8305ac22ce6deedfb21cd6a089cb5f830ef5","expires_ms":1796464650611,"kind":"tool","subject":"bash","tier":"network"}');
INSERT INTO events VALUES(17,1796464650683,16,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','approval.decided','{"approval_id":"yd5jbhrp","by":"timeout","decision":"expired","via":"timeout"}');
INSERT INTO events VALUES(18,1796464650688,15,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','tool_call.failed','{"approval_id":"yd5jbhrp","approval_status":"expired","call_id":"call_1","duration_ms":0,"error":"no admin approved this call within 3 s (approval yd5jbhrp); it was not run","ok":false,"stdout_bytes":0,"stdout_truncated":false,"tier":"network","tool":"bash"}');
INSERT INTO events VALUES(19,1796464650690,12,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','turn.started','{"messages":4,"model":"gpt-fake","tools":7,"turn":2}');
INSERT INTO events VALUES(20,1796464650695,19,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','turn.completed','{"finish_reason":"stop","input_tokens":94,"latency_ms":4,"output_tokens":3,"reply_chars":13,"retries":0,"tool_calls":0}');
INSERT INTO events VALUES(21,1796464650696,12,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222','agent.completed','{"outcome":"answered","turns":2}');
INSERT INTO events VALUES(22,1796464650703,2,'c6323baf-a9ed-4cd3-9019-5fc8fa3932d0','telegram:999','telegram.update.ignored','{"chat_id":999,"kind":"message","reason":"sender is not in AUTONOUS_TELEGRAM_ALLOWED_USERS","update_id":100002,"user_id":999}');
INSERT INTO events VALUES(23,1796464650783,2,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1','local:operator','agent.started','{"commander":"local"}');
INSERT INTO events VALUES(24,1796464650786,23,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1','local:operator','turn.started','{"messages":2,"model":"gpt-fake","tools":7,"turn":1}');
INSERT INTO events VALUES(25,1796464650796,24,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1','local:operator','turn.completed','{"finish_reason":"stop","input_tokens":46,"latency_ms":7,"output_tokens":4,"reply_chars":17,"retries":0,"tool_calls":0}');
INSERT INTO events VALUES(26,1796464650796,23,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1','local:operator','agent.completed','{"outcome":"answered","turns":1}');
INSERT INTO events VALUES(27,1796464653795,2,NULL,NULL,'worker.exited','{"exit_code":0,"pid":10471,"reason":"shutdown","revision":"bootstrap-2c4d74a1b018","status":"exited with status 0","uptime_ms":8719}');
INSERT INTO events VALUES(28,1796464654040,1,NULL,NULL,'process.stopped','{"uptime_ms":10875}');
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
INSERT INTO inbox VALUES(1,100000,'message',111,111,'capital of France?','{"message":{"chat":{"first_name":"User","id":111,"type":"private","username":"user111"},"date":1796464647,"from":{"first_name":"User","id":111,"is_bot":false,"username":"user111"},"message_id":1,"text":"capital of France?"},"update_id":100000}','done',1,'answered',NULL,'86cf86c9-5018-4994-8139-28c928293766',1796464647241,1796464647466);
INSERT INTO inbox VALUES(2,100001,'message',222,222,'run something','{"message":{"chat":{"first_name":"User","id":222,"type":"private","username":"user222"},"date":1796464647,"from":{"first_name":"User","id":222,"is_bot":false,"username":"user222"},"message_id":2,"text":"run something"},"update_id":100001}','done',1,'answered',NULL,'210f696b-efa9-4354-8b10-f22c4a23abf5',1796464647521,1796464650701);
INSERT INTO inbox VALUES(3,100002,'message',999,999,'stranger','{"message":{"chat":{"first_name":"User","id":999,"type":"private","username":"user999"},"date":1796464647,"from":{"first_name":"User","id":999,"is_bot":false,"username":"user999"},"message_id":3,"text":"stranger"},"update_id":100002}','done',1,'ignored_stranger',NULL,'c6323baf-a9ed-4cd3-9019-5fc8fa3932d0',1796464647549,1796464650704);
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
INSERT INTO outbox VALUES(1,1,'telegram:111',111,0,'Paris.','sent',1,1000,NULL,1796464647447,1796464647465);
INSERT INTO outbox VALUES(2,2,'telegram:222',222,0,'it was denied','sent',1,1002,NULL,1796464650695,1796464650701);
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
INSERT INTO messages VALUES(1,'telegram:111','user','capital of France?',1,'86cf86c9-5018-4994-8139-28c928293766',1796464647446);
INSERT INTO messages VALUES(2,'telegram:111','assistant','Paris.',1,'86cf86c9-5018-4994-8139-28c928293766',1796464647446);
INSERT INTO messages VALUES(3,'telegram:222','user','run something',2,'210f696b-efa9-4354-8b10-f22c4a23abf5',1796464650695);
INSERT INTO messages VALUES(4,'telegram:222','assistant','it was denied',2,'210f696b-efa9-4354-8b10-f22c4a23abf5',1796464650695);
INSERT INTO messages VALUES(5,'local:operator','user','hello local',NULL,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1',1796464650795);
INSERT INTO messages VALUES(6,'local:operator','assistant','echo: hello local',NULL,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1',1796464650795);
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
INSERT INTO model_calls VALUES(1,1796464647446,'86cf86c9-5018-4994-8139-28c928293766','telegram:111',7,'openai','gpt-fake','ok',200,12,0,47,1,0,44,0,5,0,'default','stop',NULL);
INSERT INTO model_calls VALUES(2,1796464647609,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222',13,'openai','gpt-fake','ok',200,20,0,46,12,0,44,0,4,0,'default','tool_calls',NULL);
INSERT INTO model_calls VALUES(3,1796464650695,'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222',19,'openai','gpt-fake','ok',200,4,0,94,3,0,44,0,4,49,'default','stop',NULL);
INSERT INTO model_calls VALUES(4,1796464650795,'fc122e03-45d2-4edf-a45f-fcc88b4bb5e1','local:operator',24,'openai','gpt-fake','ok',200,7,0,46,4,0,44,0,3,0,'default','stop',NULL);
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
INSERT INTO approvals VALUES('yd5jbhrp','tool','bash','{"command":"echo hi","network":["127.0.0.1:9"]}','230f6ad4d44c87e01c28d643acaa8305ac22ce6deedfb21cd6a089cb5f830ef5','network',replace('bash with network access to 127.0.0.1:9:\n$ echo hi','\n',char(10)),'210f696b-efa9-4354-8b10-f22c4a23abf5','telegram:222',16,'expired',1796464647611,1796464650611,1796464650681,'timeout','timeout','[{"chatID":111,"messageID":1001}]');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('events',28);
INSERT INTO sqlite_sequence VALUES('inbox',3);
INSERT INTO sqlite_sequence VALUES('messages',6);
INSERT INTO sqlite_sequence VALUES('model_calls',4);
INSERT INTO sqlite_sequence VALUES('outbox',2);
CREATE INDEX events_parent ON events(parent_id);
CREATE INDEX events_run ON events(run_id);
CREATE INDEX events_type ON events(type, id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE is not allowed'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE is not allowed'); END;
CREATE INDEX inbox_status ON inbox(status, id);
CREATE INDEX outbox_status ON outbox(status, id);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX model_calls_run ON model_calls(run_id);
CREATE INDEX approvals_status ON approvals(status, expires_ms);
COMMIT;
