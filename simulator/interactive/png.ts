import type { Frame } from '../../device/display/types.js';
import type { Staff } from '../../protocol/index.js';

/** Saves the panel as a PNG. */
export async function savePanelPng(_f: Frame | null, _staff: Staff | null, _title: string, _file: string): Promise<void> {
  throw new Error('PNG rendering is not available yet');
}
