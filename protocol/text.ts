/**
 * Text that is shown to people — window names, staff names, item names, prompts — must look like
 * what it is. Control characters (NUL, newlines, ESC, C1) break displays and logs, and Unicode
 * bidirectional controls reorder what is shown: "21" followed by U+202E … can display as "12",
 * and a staff number or window can be spoofed on the wall, the device or a CSV. None of them is
 * needed to write a Chinese, Latin or Arabic-script (e.g. Uyghur) name: the Unicode bidi
 * algorithm orders plain right-to-left text by itself.
 */
import { z } from 'zod';

// C0 controls (tab and newline included), DEL and C1; bidi embeddings/overrides U+202A–202E,
// isolates U+2066–2069, the marks LRM/RLM/ALM (U+200E, U+200F, U+061C); line/paragraph
// separators U+2028/2029 (a line break in disguise).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** The first character that may not be shown, as U+XXXX, or null if the text is safe to display. */
export function unsafeDisplayChar(s: string): string | null {
  const m = UNSAFE.exec(s);
  return m ? `U+${m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : null;
}

/** A string that is shown to people: 1–max characters, no control or bidi-control characters. */
export function displayText(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .superRefine((value, ctx) => {
      const bad = unsafeDisplayChar(value);
      if (bad) ctx.addIssue({ code: 'custom', message: `must not contain control or bidirectional-control characters (found ${bad})` });
    });
}
