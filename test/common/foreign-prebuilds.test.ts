import { describe, expect, it } from 'vitest';
import { isForeignPrebuild } from '../../common/release/bundle.js';

describe('a release bundle keeps prebuilt binaries for its own platform only', () => {
  it('tells the platform directories of prebuildify / node-gyp-build apart', () => {
    const on = (rel: string, platform: string, arch: string) => isForeignPrebuild(rel, platform, arch);
    expect(on('node_modules/sodium-native/prebuilds/linux-x64', 'linux', 'x64')).toBe(false);
    expect(on('node_modules/sodium-native/prebuilds/linux-arm64', 'linux', 'x64')).toBe(true);
    expect(on('node_modules/sodium-native/prebuilds/linux-arm64', 'linux', 'arm64')).toBe(false);
    // 32-bit ARM (a Pi with a 32-bit OS) is not arm64, and arm64 is not arm.
    expect(on('node_modules/@serialport/bindings-cpp/prebuilds/linux-arm', 'linux', 'arm')).toBe(false);
    expect(on('node_modules/@serialport/bindings-cpp/prebuilds/linux-arm64', 'linux', 'arm')).toBe(true);
    expect(on('node_modules/@serialport/bindings-cpp/prebuilds/darwin-x64+arm64', 'darwin', 'arm64')).toBe(false);
    expect(on('node_modules/@serialport/bindings-cpp/prebuilds/darwin-x64+arm64', 'linux', 'x64')).toBe(true);
    expect(on('node_modules/sodium-native/prebuilds/android-arm64', 'linux', 'arm64')).toBe(true);
    expect(on('node_modules/sodium-native/prebuilds/ios-arm64-simulator', 'linux', 'arm64')).toBe(true);
    // Only the platform directories themselves: not the prebuilds folder, not what is inside one.
    expect(on('node_modules/sodium-native/prebuilds', 'linux', 'x64')).toBe(false);
    expect(on('node_modules/sodium-native/prebuilds/linux-arm64/sodium-native.node', 'linux', 'x64')).toBe(false);
    expect(on('node_modules/sodium-native/lib/linux-arm64', 'linux', 'x64')).toBe(false);
  });
});
