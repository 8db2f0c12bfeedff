import { ConfigError, loadConfig } from '../../config/env';

describe('loadConfig', () => {
  it('gives the local development defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.kafka).toEqual({ brokers: ['127.0.0.1:9092'], clientId: 'bsi-rollout' });
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'bsi-rollout',
    });
    expect(config.topics.rolloutEvents).toBe('bsi.rollout-events');
    expect(config.temporal.tls).toBeUndefined();
  });

  it('reads a broker list, SASL and TLS material', () => {
    const config = loadConfig({
      KAFKA_BROKERS: 'k1:9093, k2:9093',
      KAFKA_SSL_CA_FILE: '/etc/ca.pem',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'bsi',
      KAFKA_SASL_PASSWORD: 'secret',
      TEMPORAL_TLS_CERT_FILE: '/c.pem',
      TEMPORAL_TLS_KEY_FILE: '/k.pem',
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(config.kafka.brokers).toEqual(['k1:9093', 'k2:9093']);
    expect(config.kafka.ssl).toEqual({ caFile: '/etc/ca.pem', rejectUnauthorized: true });
    expect(config.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'bsi', password: 'secret' });
    expect(config.temporal.tls).toEqual({ certFile: '/c.pem', keyFile: '/k.pem', serverName: 'temporal.internal' });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ KAFKA_BROKERS: '', TEMPORAL_API_KEY: '' }).kafka.brokers).toEqual(['127.0.0.1:9092']);
  });

  it('names the variable, its value and the rule for each problem', () => {
    expect(() => loadConfig({ KAFKA_BROKERS: 'localhost', TEMPORAL_ADDRESS: 'x y:1' })).toThrow(ConfigError);
    let problems = '';
    try {
      loadConfig({ KAFKA_BROKERS: 'localhost', KAFKA_SSL: 'maybe' });
    } catch (err) {
      problems = (err as ConfigError).problems.join('\n');
    }
    expect(problems).toContain('KAFKA_BROKERS="localhost": expected host:port');
    expect(problems).toContain('KAFKA_SSL="maybe"');
  });

  it('refuses SASL without credentials and a certificate without its key', () => {
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'plain' })).toThrow(/KAFKA_SASL_USERNAME/);
    expect(() => loadConfig({ KAFKA_SSL_CERT_FILE: '/c.pem' })).toThrow(/KAFKA_SSL_KEY_FILE/);
    expect(() => loadConfig({ TEMPORAL_TLS_KEY_FILE: '/k.pem' })).toThrow(/TEMPORAL_TLS_CERT_FILE/);
  });
});
