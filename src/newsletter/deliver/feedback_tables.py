"""The tables the webhooks (``newsletter.feedback``) write in the ledger's database: part of the
ledger's schema list (``deliver.ledger``), so it imports nothing of ours."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback_events (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    email_key TEXT NOT NULL,
    send_id INTEGER,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feedback_by_send ON feedback_events (send_id, kind);
CREATE TABLE IF NOT EXISTS soft_bounces (
    email_key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    last_message TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS recipients_by_message_id ON recipients (message_id)
"""
