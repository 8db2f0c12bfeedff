// Where the device-key secret comes from: the environment, else (not in production) one generated once
// under the data directory and kept, so restarts and replays key devices the same way.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../config/env';
import { deviceKeySecret, LOCAL_SECRET_FILE } from '../../ingest/device-key-secret';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bsi-key-'));

describe('deviceKeySecret', () => {
  it('takes BSI_DEVICE_KEY_SECRET when set (32 hex digits, any case)', () => {
    const config = loadConfig({ BSI_DEVICE_KEY_SECRET: '000102030405060708090A0B0C0D0E0F' });
    const found = deviceKeySecret(config.deviceKeys, { BSI_DATA_DIR: tmp() });
    expect(found.source).toBe('environment');
    expect(Buffer.from(found.secret).toString('hex')).toBe('000102030405060708090a0b0c0d0e0f');
  });

  it('refuses a secret that is not 128 bits of hex', () => {
    for (const bad of ['abc', '0'.repeat(31), 'g'.repeat(32), '0'.repeat(33)]) {
      expect(() => loadConfig({ BSI_DEVICE_KEY_SECRET: bad })).toThrow(/BSI_DEVICE_KEY_SECRET/);
    }
  });

  it('generates a local secret once and keeps it', () => {
    const dir = tmp();
    const first = deviceKeySecret({}, { BSI_DATA_DIR: dir });
    const second = deviceKeySecret({}, { BSI_DATA_DIR: dir });
    expect(first.source).toBe('generated');
    expect(second.source).toBe('local-file');
    expect(Buffer.from(second.secret)).toEqual(Buffer.from(first.secret));
    expect(first.secret).toHaveLength(16);
    expect(fs.statSync(path.join(dir, LOCAL_SECRET_FILE)).mode & 0o077).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([LOCAL_SECRET_FILE]);
    expect(Buffer.from(deviceKeySecret({}, { BSI_DATA_DIR: tmp() }).secret)).not.toEqual(Buffer.from(first.secret));
  });

  it('requires the variable in production', () => {
    expect(() => deviceKeySecret({}, { NODE_ENV: 'production', BSI_DATA_DIR: tmp() })).toThrow(ConfigError);
  });

  it('refuses a damaged local file', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, LOCAL_SECRET_FILE), 'not hex\n');
    expect(() => deviceKeySecret({}, { BSI_DATA_DIR: dir })).toThrow(/delete it to regenerate/);
  });
});
