/**
 * Where the device table's 128-bit key secret comes from. A deployment sets `BSI_DEVICE_KEY_SECRET` (32 hex
 * digits, e.g. `openssl rand -hex 16`) for every ingest member and for `rollout replay`: timeout markers in
 * `bsi.install-events` name devices by their keyed hash, so a member or a replay with another secret would
 * not recognise them. For local runs (one machine, `.data/` shared by every process of the clone) a secret
 * is generated once and kept in `.data/device-key-secret`, so restarts keep the same keys. With
 * `NODE_ENV=production` the variable is required: two hosts generating their own secrets would disagree.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type DeviceKeyConfig } from '../config/env';
import { DeviceKeys } from '../events/device-keys';
import { PACKAGE_ROOT } from '../layout/package-layout';

/** The file that holds a local run's generated secret, under the data directory. */
export const LOCAL_SECRET_FILE = 'device-key-secret';

/** The data directory of a local run: `BSI_DATA_DIR`, else `.data/` at the repository root (as `scripts/servers`). */
export function localDataDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.BSI_DATA_DIR ? path.resolve(env.BSI_DATA_DIR) : path.join(PACKAGE_ROOT, '.data');
}

/** What `deviceKeySecret` found, and where. */
export type DeviceKeySecret = { secret: Uint8Array; source: 'environment' | 'local-file' | 'generated'; file?: string };

/**
 * The 16-byte secret: from the configuration when `BSI_DEVICE_KEY_SECRET` is set; otherwise (not in
 * production) from the local file, generating it first when absent (linked into place, so two
 * processes starting at once end up with the same secret). Throws `ConfigError` in production without the variable,
 * and for a local file that does not hold 32 hex digits.
 */
export function deviceKeySecret(
  config: DeviceKeyConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): DeviceKeySecret {
  if (config.secretHex !== undefined) return { secret: Buffer.from(config.secretHex, 'hex'), source: 'environment' };
  if (env.NODE_ENV === 'production') {
    throw new ConfigError([
      'BSI_DEVICE_KEY_SECRET is required in production (32 hex digits, the same on every member)',
    ]);
  }
  const dir = localDataDir(env);
  const file = path.join(dir, LOCAL_SECRET_FILE);
  let source: DeviceKeySecret['source'] = 'local-file';
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(file)) {
    // Written aside, then linked into place: the link fails if another process got there first, and a
    // reader never sees a half-written file.
    const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(aside, `${crypto.randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
    try {
      fs.linkSync(aside, file);
      source = 'generated';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.unlinkSync(aside);
    }
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{32}$/i.test(text)) {
    throw new ConfigError([`${file}: expected 32 hex digits (the local device-key secret); delete it to regenerate`]);
  }
  return { secret: Buffer.from(text, 'hex'), source, file };
}

/** The deployment's `DeviceKeys` (see `deviceKeySecret` for where the secret comes from). */
export function deviceKeysOf(
  config: DeviceKeyConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): DeviceKeys {
  return new DeviceKeys(deviceKeySecret(config, env).secret);
}
