// mock-firmata ships no types; the tests use its Firmata IO stand-in under johnny-five.
declare module 'mock-firmata' {
  const mockFirmata: { Firmata: new () => unknown };
  export default mockFirmata;
}
