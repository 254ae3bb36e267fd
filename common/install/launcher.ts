/**
 * The launcher: a small shell script installed once at /opt/haochaping/bin/haochaping and never
 * replaced by an update, so a broken release cannot break the way back. It runs the `current`
 * release with `exec` (same PID: systemd's notify and watchdog still reach the agent).
 *
 * After an update the new release is on probation (`update-pending`: version and deadline).
 * Each start counts an attempt; when the new release has started too often without confirming
 * it is healthy, or its deadline has passed, the launcher points `current` back at `previous`
 * and notes why in `update-failed`, which the old release reports to the hub.
 * The agent confirms health by removing `update-pending` (device/update/).
 */
export const MAX_START_ATTEMPTS = 3;

export function launcherScript(base: string, node: string): string {
  return `#!/bin/sh
# haochaping launcher, installed by "haochaping install" (not replaced by updates).
set -u
BASE="\${HCP_BASE:-${base}}"
NODE="\${HCP_NODE:-${node}}"
P="$BASE/update-pending"
if [ -f "$P" ]; then
  read -r version deadline < "$P" || true
  cur=$(basename "$(readlink "$BASE/current")")
  if [ "$cur" != "\${version:-}" ]; then rm -f "$P" "$BASE/update-attempts"; fi
fi
if [ -f "$P" ]; then
  n=$(cat "$BASE/update-attempts" 2>/dev/null || echo 0)
  n=$((n + 1))
  echo "$n" > "$BASE/update-attempts.tmp" && mv -f "$BASE/update-attempts.tmp" "$BASE/update-attempts"
  why=""
  if [ "$n" -gt ${MAX_START_ATTEMPTS} ]; then why="started $((n - 1)) times without becoming healthy"; fi
  if [ "$(date +%s)" -gt "\${deadline:-0}" ]; then why="not healthy by its deadline"; fi
  if [ -n "$why" ] && [ -L "$BASE/previous" ]; then
    ln -sfn "$(readlink "$BASE/previous")" "$BASE/current.tmp" && mv -Tf "$BASE/current.tmp" "$BASE/current"
    printf '%s %s\\n' "$version" "$why" > "$BASE/update-failed.tmp" && mv -f "$BASE/update-failed.tmp" "$BASE/update-failed"
    rm -f "$P" "$BASE/update-attempts"
    sync
    echo "haochaping: release $version $why; back on $(readlink "$BASE/current")" >&2
  fi
fi
exec "$NODE" "$BASE/current/bin/haochaping.js" "$@"
`;
}
