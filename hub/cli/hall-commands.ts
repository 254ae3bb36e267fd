/**
 * `haochaping hub hall show|set`: the hall-wide settings through the hub's API (the same
 * PUT /api/hall/settings the web and scripts use). `set` reads the current settings, changes
 * only what its options name, and writes them back; the hub pushes every changed device config.
 * The flag policy (what a record flag does to a rating) lives here too, though it never
 * reaches a device.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { ACTION_LABELS, DEFAULT_FLAG_POLICY, FLAG_ACTIONS, FLAG_LABELS, type FlagAction } from '../policy/flag-policy.js';
import type { HubTarget } from './api-client.js';
import { api, run, target } from './commands.js';

type Settings = Record<string, unknown> & { flagPolicy?: Record<string, FlagAction>; reasonsAfter?: number[]; reasonRequired?: boolean };

function parseFlag(v: string, prev: Record<string, FlagAction> = {}): Record<string, FlagAction> {
  const m = /^([a-z][a-z0-9-]{0,39})=(count|flag|exclude)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--flag takes NAME=ACTION with ACTION one of ${FLAG_ACTIONS.join(', ')}, e.g. no-session=exclude`);
  return { ...prev, [m[1]!]: m[2] as FlagAction };
}

function parseLevels(v: string): number[] {
  if (v === 'none') return [];
  const levels = v.split(',').map(Number);
  if (!levels.every((n) => [1, 2, 3, 4, 5].includes(n)))
    throw new InvalidArgumentError('--reasons-after lists levels 1–5 separated by commas (or "none")');
  return [...new Set(levels)];
}

function describe(s: Settings): string {
  const policy = { ...DEFAULT_FLAG_POLICY, ...s.flagPolicy };
  const lines = ['标记规则 flag policy（会话模式无会话按键等如何计入 what each record flag does）:'];
  for (const [flag, action] of Object.entries(policy))
    lines.push(
      `  ${flag.padEnd(22)} ${action.padEnd(8)} ${ACTION_LABELS[action]}${FLAG_LABELS[flag] ? `  — ${FLAG_LABELS[flag]}` : ''}${s.flagPolicy?.[flag] ? '' : '  (默认 default)'}`,
    );
  lines.push(
    `显示评价内容的等级 preset content after levels: ${(s.reasonsAfter ?? [1, 2]).join(',') || '无 none'}${s.reasonsAfter ? '' : '  (默认 default)'}`,
  );
  lines.push(`差评须有原因 a 差评 needs a reason: ${s.reasonRequired ? '是 yes（跳过时再询问一次 asked once more）' : '否 no'}`);
  return lines.join('\n');
}

export function registerHallCommands(hub: Command): void {
  const hall = hub.command('hall').description('hall-wide settings: flag policy, preset content per level, reasons for 差评');
  target(hall.command('show'))
    .description('show the hall-wide settings')
    .action(
      run(async (o: HubTarget & { json: boolean }) => {
        const r = await api(o).call<{ hall: string; settings: Settings }>('GET', '/api/hall/settings');
        console.log(o.json ? JSON.stringify(r) : `大厅 hall ${r.hall}\n${describe(r.settings)}`);
      }),
    );
  target(hall.command('set'))
    .description('change hall-wide settings; devices whose config changes get it pushed')
    .option(
      '--flag <name=action>',
      `what a record flag does: ${FLAG_ACTIONS.join(' | ')} (repeatable), e.g. no-session=exclude too-soon=flag`,
      parseFlag,
    )
    .option('--reasons-after <levels>', 'levels after which their preset content is shown, e.g. 5,4,3,2,1 (or "none")', parseLevels)
    .option('--reason-required <yes|no>', 'a 差评 needs a reason or text: the device asks once more before a skip', (v) => {
      if (!['yes', 'no'].includes(v)) throw new InvalidArgumentError('--reason-required takes yes or no');
      return v === 'yes';
    })
    .action(
      run(
        async (o: HubTarget & { flag?: Record<string, FlagAction>; reasonsAfter?: number[]; reasonRequired?: boolean; json: boolean }) => {
          const a = api(o);
          const { settings } = await a.call<{ settings: Settings }>('GET', '/api/hall/settings');
          const next: Settings = {
            ...settings,
            ...(o.flag ? { flagPolicy: { ...settings.flagPolicy, ...o.flag } } : {}),
            ...(o.reasonsAfter ? { reasonsAfter: o.reasonsAfter } : {}),
            ...(o.reasonRequired !== undefined ? { reasonRequired: o.reasonRequired } : {}),
          };
          const r = await a.call<{ changed: { device: string; version: number }[] }>('PUT', '/api/hall/settings', next);
          console.log(
            o.json
              ? JSON.stringify({ settings: next, ...r })
              : `${describe(next)}\n配置已推送 configs pushed to ${r.changed.length} device(s)`,
          );
        },
      ),
    );
}
