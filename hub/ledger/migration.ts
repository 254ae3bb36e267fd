/**
 * Tables of the ledger (hub/ledger): the key each device signed with in each key epoch, so
 * records of an earlier epoch can still be re-verified after a re-enrolment replaced the key;
 * and the hub's signed daily checkpoints.
 *
 * `device_keys` is filled by a trigger on `devices`, not by the registry: whichever order the
 * registry writes a new key and a new epoch in, the first key seen for an epoch is kept
 * (INSERT OR IGNORE), and a key already known for the old epoch is never overwritten.
 */
export const LEDGER_MIGRATION = `
  CREATE TABLE device_keys (
    device TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    public_key TEXT NOT NULL,
    PRIMARY KEY (device, epoch)
  ) WITHOUT ROWID;
  INSERT OR IGNORE INTO device_keys (device, epoch, public_key)
    SELECT id, key_epoch, coalesce(public_key, previous_key) FROM devices WHERE coalesce(public_key, previous_key) IS NOT NULL;
  CREATE TRIGGER device_keys_on_update AFTER UPDATE OF public_key, key_epoch ON devices WHEN NEW.public_key IS NOT NULL
    BEGIN INSERT OR IGNORE INTO device_keys (device, epoch, public_key) VALUES (NEW.id, NEW.key_epoch, NEW.public_key); END;
  CREATE TRIGGER device_keys_on_insert AFTER INSERT ON devices WHEN NEW.public_key IS NOT NULL
    BEGIN INSERT OR IGNORE INTO device_keys (device, epoch, public_key) VALUES (NEW.id, NEW.key_epoch, NEW.public_key); END;

  -- One signed checkpoint per China-time day (day = days since 1970-01-01 in UTC+8): body is
  -- the canonical JSON the hub signed, sig its Ed25519 signature (base64).
  CREATE TABLE ledger_checkpoints (
    day INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    sig TEXT NOT NULL,
    made_at INTEGER NOT NULL
  );
  CREATE TRIGGER ledger_checkpoints_append_only_u BEFORE UPDATE ON ledger_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are never changed'); END;
  CREATE TRIGGER ledger_checkpoints_append_only_d BEFORE DELETE ON ledger_checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoints are never deleted'); END;
`;
