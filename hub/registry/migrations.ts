/**
 * Key epochs. Re-enrolling a device with a new key gives it a new chain that starts again at
 * seq 1, so (device, seq) is no longer unique across a device's life: the ratings and gaps
 * tables are rebuilt (SQLite's documented create-copy-drop-rename way; migrate() runs with
 * foreign keys off for this) to key them by (device, epoch, seq). Existing rows are epoch 1.
 */
export const KEY_EPOCH_MIGRATION = `
  ALTER TABLE devices ADD COLUMN key_epoch INTEGER NOT NULL DEFAULT 1;
  -- The key a device had before hall IT re-enrolled it: the same key coming back means the
  -- same device (and outbox), whose chain goes on; another key starts a new epoch at seq 1.
  ALTER TABLE devices ADD COLUMN previous_key TEXT;

  CREATE TABLE ratings_v2 (
    id TEXT PRIMARY KEY,
    device TEXT NOT NULL REFERENCES devices (id),
    epoch INTEGER NOT NULL DEFAULT 1,
    seq INTEGER NOT NULL,
    hall TEXT NOT NULL,
    window TEXT NOT NULL,
    staff_id TEXT,
    kind TEXT NOT NULL,
    level INTEGER,
    reasons TEXT NOT NULL,
    session_id TEXT,
    flags TEXT NOT NULL,
    device_at INTEGER NOT NULL,
    clock_synced INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (device, epoch, seq)
  );
  INSERT INTO ratings_v2 (id, device, epoch, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body)
    SELECT id, device, 1, seq, hall, window, staff_id, kind, level, reasons, session_id, flags, device_at, clock_synced, received_at, hash, body FROM ratings;
  DROP TABLE ratings;
  ALTER TABLE ratings_v2 RENAME TO ratings;
  CREATE INDEX ratings_by_received ON ratings (received_at);
  CREATE INDEX ratings_by_session ON ratings (session_id) WHERE session_id IS NOT NULL;

  CREATE TABLE gaps_v2 (
    device TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 1,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (device, epoch, from_seq)
  );
  INSERT INTO gaps_v2 (device, epoch, from_seq, to_seq, detected_at) SELECT device, 1, from_seq, to_seq, detected_at FROM gaps;
  DROP TABLE gaps;
  ALTER TABLE gaps_v2 RENAME TO gaps;
`;

/** Settings for every device of the hall (the reason catalogue, prompts, timeouts…); a device's own settings win. */
export const HALL_SETTINGS_MIGRATION = `
  CREATE TABLE hall_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
`;
