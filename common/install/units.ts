/**
 * The systemd units the installer writes. The device unit is the one hardware-notes.md §10
 * describes; the hub's is hardened (it needs only its state directory and its ports).
 * Both run the stable launcher in /opt/haochaping/bin, which runs the `current` release.
 */
export type Role = 'device' | 'hub';

export const SERVICE_USER = 'haochaping';

/**
 * Node options for the agent: V8's young generation capped at 1 MiB a semi-space (default 16):
 * the agent allocates little, and an idle 16 MiB nursery is a third of a Pi Zero's budget for
 * it (issue 14). Allowed in NODE_OPTIONS, so the unit sets it; the simulator's device
 * processes and bench/device-latency.ts start agents the same way.
 */
export const DEVICE_NODE_OPTIONS = '--max-semi-space-size=1';

export function unitName(role: Role): string {
  return `haochaping-${role}.service`;
}

const HARDENING = `NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes
UMask=0077`;

export function unitFile(role: Role, user = SERVICE_USER): string {
  if (role === 'device') {
    return `# Installed by "haochaping install device"; see hardware-notes.md §10.
[Unit]
Description=haochaping 好差评 evaluator agent
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=all
User=${user}
Group=${user}
SupplementaryGroups=gpio spi dialout audio
Environment=NODE_OPTIONS=${DEVICE_NODE_OPTIONS}
EnvironmentFile=/etc/haochaping/device.env
ExecStart=/opt/haochaping/bin/haochaping device run $HCP_DEVICE_ARGS
Restart=always
RestartSec=2
WatchdogSec=30
TimeoutStopSec=15
StateDirectory=haochaping/device
StateDirectoryMode=0700
${HARDENING}
# Updates unpack new releases next to the running one and switch the current link.
ReadWritePaths=/var/lib/haochaping /opt/haochaping

[Install]
WantedBy=multi-user.target
`;
  }
  return `# Installed by "haochaping install hub".
[Unit]
Description=haochaping 好差评 hall hub (MQTT broker, ingest, forwarder, hall page)
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
Type=exec
User=${user}
Group=${user}
EnvironmentFile=/etc/haochaping/hub.env
ExecStart=/opt/haochaping/bin/haochaping hub $HCP_HUB_ARGS
Restart=always
RestartSec=2
TimeoutStopSec=30
StateDirectory=haochaping/hub
StateDirectoryMode=0700
${HARDENING}
PrivateDevices=yes
RestrictNamespaces=yes
SystemCallArchitectures=native
CapabilityBoundingSet=
ReadWritePaths=/var/lib/haochaping

[Install]
WantedBy=multi-user.target
`;
}

/** The environment file hall IT edits (written once, never overwritten by a re-install or an update). */
export function envFile(role: Role): string {
  if (role === 'device') {
    return `# Options of "haochaping device run" (see hardware-notes.md); edit, then: systemctl restart haochaping-device
HCP_DEVICE_ARGS=--data /var/lib/haochaping/device --buttons gpio --button-pins 17,27,22,23,24 --display leds --led-pins 5,6,13,19,26 --status-led 12
`;
  }
  return `# Options of "haochaping hub" (see docs/operations.md); edit, then: systemctl restart haochaping-hub
HCP_HUB_ARGS=--data /var/lib/haochaping/hub --hall hall-1
`;
}
