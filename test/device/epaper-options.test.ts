/** `--display epaper` options: every mistake a hall IT person can make gets a message that says what to do. */
import { describe, expect, it } from 'vitest';
import { explain, RunOptionsSchema } from '../../device/run-options.js';

const parse = (o: Record<string, unknown>) => RunOptionsSchema.safeParse({ data: '-', display: 'epaper', ...o });

describe('e-paper options', () => {
  it.each([
    [{}, /--display epaper needs --epaper-model: ssd1680, ssd1683, uc8179/],
    [{ epaperModel: 'il0373' }, /--epaper-model must be one of ssd1680, ssd1683, uc8179/],
    [{ epaperModel: 'uc8179', epaperDc: '10' }, /DC\/RST\/BUSY cannot be SPI0's own pins/],
    [{ epaperModel: 'ssd1683', epaperDc: '24' }, /--epaper-dc, --epaper-rst and --epaper-busy must be three different GPIOs/],
    [{ epaperModel: 'ssd1683', buttons: 'gpio', buttonPins: '5,6,13,19,25' }, /a button GPIO is also used by the e-paper panel/],
    [{ epaperModel: 'ssd1680', epaperSize: '400x300' }, /a ssd1680 drives at most 176x296/],
    [{ epaperModel: 'ssd1680', epaperSize: '400' }, /--epaper-size must be WIDTHxHEIGHT/],
    [{ epaperModel: 'ssd1680', epaperRotation: '45' }, /--epaper-rotation must be 0, 90, 180 or 270/],
    [{ epaperModel: 'uc8179', spiSpeed: '100' }, /--spi-speed must be at least 100000/],
  ])('%j is refused: %s', (o, message) => {
    const r = parse(o);
    expect(r.success).toBe(false);
    expect(explain(r.error!)).toMatch(message);
  });

  it('a Waveshare HAT needs only the model: DC 25, RST 17, BUSY 24 on /dev/spidev0.0 at 4 MHz', () => {
    const r = parse({ epaperModel: 'uc8179', epaperRotation: '180', largeType: true });
    expect(r.success).toBe(true);
    expect(r.data).toMatchObject({
      epaperDc: 25,
      epaperRst: 17,
      epaperBusy: 24,
      spiBus: 0,
      spiDevice: 0,
      spiSpeed: 4_000_000,
      epaperRotation: 180,
      largeType: true,
      epaperGpio: 'sysfs',
    });
  });
});
