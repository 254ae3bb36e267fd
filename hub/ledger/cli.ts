/**
 * `haochaping hub verify`, `hub export-day` and `haochaping verify-export`: the ledger's
 * commands. `hub verify` and `hub export-day` read a hub's database directly (also a copy of
 * it, also while the hub runs: SQLite WAL) and never write to it. Exit codes: 0 everything
 * matches, 1 something does not (the rows are printed), 2 the command could not run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { numberFromDay } from '../calendar/working-days.js';
import { MIGRATIONS } from '../store/db.js';
import { loadHubKey } from './hub-key.js';
import { ExportError, exportDay, verifyExport, type DayExport } from './export.js';
import { parsePublicKey, verifyLedger, type Finding } from './verify.js';

const DEFAULT_DATA = '/var/lib/haochaping/hub';

/** One line for the operator, exit 2: the command could not do its work (not a mismatch). */
class CliError extends Error {
  override readonly name = 'CliError';
}

function openReadOnly(dataDir: string): Database.Database {
  const path = join(resolve(dataDir), 'hub.db');
  if (!existsSync(path)) throw new CliError(`no hub database at ${path}`);
  const db = new Database(path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v !== MIGRATIONS.length) {
    db.close();
    throw new CliError(
      `${path} is at schema version ${v}, this release reads version ${MIGRATIONS.length}: start this release's hub on it once (or use the release that wrote it)`,
    );
  }
  return db;
}

function keyFrom(option: string | undefined, dataDir: string | null): { key: KeyObject | null; from: string } {
  if (option) {
    try {
      const text = existsSync(option) ? readFileSync(option, 'utf8') : option;
      return { key: parsePublicKey(text), from: option };
    } catch (e) {
      throw new CliError(`--hub-key: not an Ed25519 public key (PEM file or base64 SPKI): ${(e as Error).message}`);
    }
  }
  const own = dataDir ? loadHubKey(resolve(dataDir)) : null;
  return own ? { key: own.publicKey, from: join(resolve(dataDir!), 'ledger-key.pem') } : { key: null, from: '' };
}

function printFindings(findings: Finding[]): void {
  for (const f of findings) {
    const what = f.stored !== undefined || f.expected !== undefined ? ` — stored ${f.stored ?? '?'}, expected ${f.expected ?? '?'}` : '';
    console.log(`MISMATCH ${f.table} ${f.key}: ${f.problem}${what}`);
  }
}

function guarded(f: () => Promise<number> | number): () => Promise<void> {
  return async () => {
    try {
      process.exitCode = await f();
    } catch (e) {
      if (e instanceof CliError || e instanceof ExportError || e instanceof RangeError) {
        console.error(`错误 error: ${e.message}`);
        process.exitCode = 2;
      } else throw e;
    }
  };
}

export function addLedgerCommands(hub: Command, program: Command): void {
  hub
    .command('verify')
    .description(
      're-check every stored rating (signature, chain), fact, rollup, audit and work-order trail, and every signed checkpoint; exit 1 and list the rows that do not match',
    )
    .option('--data <dir>', 'hub data directory (its hub.db; a copy works too)', DEFAULT_DATA)
    .option(
      '--hub-key <key>',
      "the hub's public key (PEM file or base64) to check checkpoints with (default: the data directory's ledger key)",
    )
    .option('--json', 'print one JSON document', false)
    .action((o: { data: string; hubKey?: string; json: boolean }) =>
      guarded(async () => {
        const db = openReadOnly(o.data);
        try {
          const { key, from } = keyFrom(o.hubKey, o.data);
          const r = await verifyLedger(db, { hubKey: key, maxFindings: 100_000 });
          if (o.json) console.log(JSON.stringify({ ...r, hubKey: from || null }));
          else {
            printFindings(r.findings);
            const c = r.checked;
            console.log(
              `${r.ok ? '一致 OK' : `不一致 MISMATCH: ${r.findings.length + r.omitted} row(s)`} — checked ${c.ratings} ratings, ${c.facts} facts, ${c.rollupRows} rollup rows, ${c.auditRows} audit entries, ${c.workOrders} work orders (${c.workOrderEvents} events), ${c.checkpoints} checkpoints in ${r.ms} ms`,
            );
            if (!key && c.checkpoints)
              console.log('note: no hub key found: checkpoints were recomputed, their signatures not checked (give --hub-key)');
          }
          return r.ok ? 0 : 1;
        } finally {
          db.close();
        }
      })(),
    );

  hub
    .command('export-day')
    .description('write one day\'s records (China time, by receipt) with the day\'s signed checkpoint, for "haochaping verify-export"')
    .option('--data <dir>', 'hub data directory', DEFAULT_DATA)
    .requiredOption('--date <YYYY-MM-DD>', 'the day')
    .option('--out <file>', 'write here (default: standard output)')
    .action((o: { data: string; date: string; out?: string }) =>
      guarded(() => {
        const day = numberFromDay(o.date);
        const own = loadHubKey(resolve(o.data));
        if (!own) throw new CliError(`no hub key in ${resolve(o.data)}: this hub has never made a checkpoint`);
        const db = openReadOnly(o.data);
        try {
          const x = exportDay(db, day, own.publicKeyB64);
          const text = JSON.stringify(x, null, 1) + '\n';
          if (o.out) {
            writeFileSync(o.out, text, { mode: 0o600 });
            console.error(`wrote ${x.records.length} records and the checkpoint of ${o.date} to ${o.out}`);
          } else process.stdout.write(text);
          return 0;
        } finally {
          db.close();
        }
      })(),
    );

  program
    .command('verify-export')
    .description(
      'check an exported day against its signed checkpoint (signature, device signatures, chain, counts, Merkle root); exit 1 and list what differs',
    )
    .argument('<file>', 'a file written by "haochaping hub export-day"')
    .option('--hub-key <key>', "the hub's public key (PEM file or base64) as you know it; without it the key in the file is used")
    .option('--json', 'print one JSON document', false)
    .action((file: string, o: { hubKey?: string; json: boolean }) =>
      guarded(() => {
        let x: DayExport;
        try {
          x = JSON.parse(readFileSync(file, 'utf8')) as DayExport;
        } catch (e) {
          throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
        }
        const { key } = keyFrom(o.hubKey, null);
        const r = verifyExport(x, key ?? undefined);
        if (o.json) console.log(JSON.stringify(r));
        else {
          printFindings(r.findings);
          console.log(
            `${r.ok ? '一致 OK' : `不一致 MISMATCH: ${r.findings.length} finding(s)`} — ${r.records} records of ${x.day ?? '?'} against the checkpoint${r.keyPinned ? ' (hub key given)' : ' (hub key taken from the file: give --hub-key to pin it)'}`,
          );
        }
        return r.ok ? 0 : 1;
      })(),
    );
}
