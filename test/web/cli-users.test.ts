import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../../simulator/processes.js';
import { ADMIN_TOKEN_FILE } from '../../hub/hub.js';
import { openHubDb } from '../../hub/store/db.js';
import { AuditLog } from '../../hub/users/audit.js';
import { Users } from '../../hub/users/users.js';
import { INITIAL_PASSWORD_FILE } from '../../hub/web/hall-web.js';
import { TestHall } from '../helpers/hall.js';

const cli = (args: string[], input?: string) => spawnSync(process.execPath, [CLI_PATH, ...args], { input, encoding: 'utf8' });

let dir = '';
let hall: TestHall | null = null;
afterEach(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
  await hall?.close();
  hall = null;
});

describe('staff accounts from the command line', () => {
  it('haochaping hub user add/passwd/list manage accounts the page accepts, audited as "cli"', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hcp-cli-'));
    const data = join(dir, 'hub');
    const add = cli(['hub', 'user', 'add', '--data', data, '--name', 'zhang', '--role', 'supervisor', '--display-name', '张三']);
    expect(add.status, add.stderr).toBe(0);
    const password = /password: (\S+)/.exec(add.stdout)![1]!;
    expect(cli(['hub', 'user', 'add', '--data', data, '--name', 'zhang', '--role', 'admin']).stderr).toContain('已存在');
    expect(cli(['hub', 'user', 'add', '--data', data, '--name', 'x1', '--role', 'boss']).status).not.toBe(0);
    expect(cli(['hub', 'user', 'passwd', '--data', data, '--name', 'zhang'], 'short\n').stderr).toContain('密码至少10位');
    expect(cli(['hub', 'user', 'list', '--data', data]).stdout).toContain('zhang\tsupervisor\t张三\tactive');

    const db = openHubDb(join(data, 'hub.db'));
    const users = new Users(db, new AuditLog(db));
    expect((await users.login('zhang', password)).ok).toBe(true);
    db.close();
    expect(cli(['hub', 'user', 'passwd', '--data', data, '--name', 'zhang'], 'a-new-password-1\n').status).toBe(0);
    const db2 = openHubDb(join(data, 'hub.db'));
    const users2 = new Users(db2, new AuditLog(db2));
    expect((await users2.login('zhang', password)).ok).toBe(false);
    expect((await users2.login('zhang', 'a-new-password-1')).ok).toBe(true);
    expect(
      new AuditLog(db2)
        .recent()
        .filter((r) => r.actor === 'cli')
        .map((r) => r.action),
    ).toEqual(['password-set', 'user-add']);
    db2.close();
  }, 120_000); // eight CLI starts: slow on a busy two-core machine

  it('the first start makes an admin account and leaves its password where only root reads it', async () => {
    hall = await TestHall.start();
    const file = join(hall.dir, 'hub', INITIAL_PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const [name, password] = readFileSync(file, 'utf8').trim().split('\n');
    const r = await fetch(`${hall.hubUrl}/api/hall/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { user: { role: string } }).user.role).toBe('admin');
    // Beside it, the first admin API token: the machines' credential, not a person's password.
    const tokenFile = join(hall.dir, 'hub', ADMIN_TOKEN_FILE);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect((await fetch(`${hall.hubUrl}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${hall.hubUrl}/api/devices`, { headers: { authorization: `Bearer ${password}` } })).status).toBe(401);
  });
});
