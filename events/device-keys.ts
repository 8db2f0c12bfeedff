/**
 * Device keys: the 64-bit keyed hash that names a device in the ingest's device table and in the install-timeout
 * markers it writes to `bsi.install-events`, which replay reads back. Pure (the secret is passed in), so the ingest
 * and replay share it from the bottom floor.
 */
import { SipHash24 } from './siphash';

const utf8 = new TextEncoder();

/**
 * The 64-bit table keys of device ids: SipHash-2-4 of the id's UTF-8 bytes under the deployment's 128-bit
 * secret (`BSI_DEVICE_KEY_SECRET`, see `device-key-secret.ts`). Keyed, so nobody who lacks the secret can
 * craft device ids that share one state (MurmurHash3, the key before, has multicollisions that hold for
 * every seed). Deterministic for one secret: every ingest member and every replay of the deployment must use
 * the same secret, because timeout markers in the log carry keys. Two devices collide with probability
 * ~n²/2⁶⁵ (3·10⁻⁸ at a million devices of one offer).
 */
export class DeviceKeys {
  private readonly sip: SipHash24;
  /** High half of the last key computed by `ofRange` (unsigned). */
  hi = 0;
  /** Low half of the last key computed by `ofRange` (unsigned). */
  lo = 0;

  /** Takes the 16-byte secret (kept, so a reader thread can be given the same keys). */
  constructor(readonly secret: Uint8Array) {
    this.sip = new SipHash24(secret);
  }

  /** The key of the device id whose UTF-8 bytes are `bytes[start..end)`, left in `hi`/`lo` (no allocation). */
  ofRange(bytes: Uint8Array, start: number, end: number): void {
    const sip = this.sip;
    sip.hashRange(bytes, start, end);
    this.hi = sip.hi;
    this.lo = sip.lo;
  }

  /** The key of a device id given as a string. */
  of(deviceId: string): [hi: number, lo: number] {
    const bytes = utf8.encode(deviceId);
    this.ofRange(bytes, 0, bytes.length);
    return [this.hi, this.lo];
  }

  /** The key of a device id as timeout markers carry it (`deviceKeyHex`). */
  hexOf(deviceId: string): string {
    return deviceKeyHex(...this.of(deviceId));
  }
}

/** The 16 hex digits of a device key, as timeout markers carry it. */
export function deviceKeyHex(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Parses `deviceKeyHex` output back into the two halves. */
export function parseDeviceKeyHex(hex: string): [hi: number, lo: number] {
  return [parseInt(hex.slice(0, 8), 16) >>> 0, parseInt(hex.slice(8, 16), 16) >>> 0];
}
