/**
 * Device keys for unit tests: a fixed, public secret (never a deployment's), so test runs are reproducible.
 */
import { DeviceKeys } from '../../events/device-keys';

/** The test secret: bytes 0x00..0x0f (the SipHash paper's test key). */
export const TEST_DEVICE_KEY_SECRET = Uint8Array.from({ length: 16 }, (_, i) => i);

/** A `DeviceKeys` under the test secret. */
export function testDeviceKeys(): DeviceKeys {
  return new DeviceKeys(TEST_DEVICE_KEY_SECRET);
}
