// Webhook configuration: the plan's `notifications` key and the worker's global webhooks file (BSI_WEBHOOKS_FILE).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../config/env';
import { parseGlobalWebhooks } from '../../config/webhooks';
import { parsePlan } from '../../events/plan';
import { readGlobalWebhooks } from '../../worker/global-webhooks';

const plan = (notifications: unknown) =>
  JSON.stringify({
    releaseId: 'bsi-hooks',
    artifact: { build: '26.3.1' },
    deviceClasses: ['phone-a'],
    phases: [{ share: 100, bake: '1m' }],
    thresholds: { maxFailureRate: 0.02, minSample: 100, installTimeoutSec: 1800 },
    breachPolicy: { action: 'pause' },
    notifications,
  });

const errorsOf = (text: string) => {
  const result = parsePlan(text);
  if (result.ok) throw new Error('expected the plan to be refused');
  return result.errors.map((e) => `${e.path}: ${e.rule}`);
};

describe('plan notifications', () => {
  it('accepts json and slack webhooks, json by default, every kind unless listed', () => {
    const result = parsePlan(
      plan({
        webhooks: [
          { name: 'sre', url: 'https://hooks.example.com/bsi', secretEnv: 'BSI_HOOK_SECRET' },
          { name: 'chat', url: 'http://127.0.0.1:9/slack', format: 'slack', events: ['breach', 'halt'] },
        ],
      }),
    );
    expect(result.ok && result.plan.notifications).toEqual({
      webhooks: [
        { name: 'sre', url: 'https://hooks.example.com/bsi', format: 'json', secretEnv: 'BSI_HOOK_SECRET' },
        { name: 'chat', url: 'http://127.0.0.1:9/slack', format: 'slack', events: ['breach', 'halt'] },
      ],
    });
  });

  it('refuses a URL that is not http(s), a json webhook without secretEnv, a secret in the plan, a bad kind', () => {
    expect(
      errorsOf(
        plan({
          webhooks: [
            { name: 'a', url: 'ftp://example.com/x', secretEnv: 'A' },
            { name: 'b', url: 'https://example.com/b' },
            { name: 'c', url: 'https://example.com/c', secretEnv: 'C', secret: 'do-not-put-me-here' },
            { name: 'd', url: 'https://example.com/d', format: 'slack', events: ['everything'] },
            { name: 'e', url: 'not a url', format: 'slack' },
          ],
        }),
      ),
    ).toEqual([
      'notifications.webhooks[0].url: must be an absolute http:// or https:// URL',
      'notifications.webhooks[1].secretEnv: a json webhook needs secretEnv: the environment variable holding its secret (never the secret)',
      'notifications.webhooks[2].secret: unknown field',
      expect.stringMatching(/^notifications\.webhooks\[3\]\.events\[0\]: Invalid option: expected one of "breach"/),
      'notifications.webhooks[4].url: must be an absolute http:// or https:// URL',
    ]);
  });

  it('refuses duplicate webhook names and an empty list', () => {
    const hook = { name: 'same', url: 'https://example.com/x', format: 'slack' };
    expect(errorsOf(plan({ webhooks: [hook, hook] }))).toEqual([
      'notifications.webhooks[1].name: duplicate webhook name (first at [0])',
    ]);
    expect(errorsOf(plan({ webhooks: [] }))).toEqual([expect.stringMatching(/^notifications\.webhooks: /)]);
  });
});

describe('global webhooks file', () => {
  it('reads YAML with a secret or a secretEnv per json webhook', () => {
    const hooks = parseGlobalWebhooks(
      [
        'webhooks:',
        '  - { name: ops, url: "https://ops.example.com/hook", secret: "0123456789abcdef0123" }',
        '  - { name: audit, url: "https://audit.example.com/hook", secretEnv: AUDIT_SECRET, events: [rollout-completed] }',
        '  - { name: chat, url: "https://hooks.slack.example/x", format: slack }',
      ].join('\n'),
      'hooks.yaml',
    );
    expect(hooks.map((h) => [h.name, h.format])).toEqual([
      ['ops', 'json'],
      ['audit', 'json'],
      ['chat', 'slack'],
    ]);
  });

  it('names the file, the path and the rule of every problem', () => {
    const problems = (text: string): readonly string[] => {
      try {
        parseGlobalWebhooks(text, 'hooks.json');
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      throw new Error('expected a ConfigError');
    };
    expect(
      problems(
        JSON.stringify({
          webhooks: [
            { name: 'a', url: 'file:///etc/passwd', secret: '0123456789abcdef' },
            { name: 'b', url: 'https://b.example.com', secret: 'short' },
            { name: 'c', url: 'https://c.example.com', secret: '0123456789abcdef', secretEnv: 'C' },
          ],
        }),
      ),
    ).toEqual([
      'BSI_WEBHOOKS_FILE=hooks.json: webhooks[0].url: must be an absolute http:// or https:// URL',
      'BSI_WEBHOOKS_FILE=hooks.json: webhooks[1].secret: must be at least 16 characters',
      'BSI_WEBHOOKS_FILE=hooks.json: webhooks[2].secret: a json webhook needs exactly one of secret and secretEnv',
    ]);
    expect(problems('webhooks: [ {')[0]).toMatch(/^BSI_WEBHOOKS_FILE=hooks\.json: not YAML or JSON: /);
    expect(problems('{}')).toEqual([expect.stringMatching(/^BSI_WEBHOOKS_FILE=hooks\.json: webhooks: /)]);
  });

  it('is read at start-up from BSI_WEBHOOKS_FILE: none when unset, a ConfigError for a missing file', () => {
    expect(readGlobalWebhooks({})).toEqual([]);
    const dir = mkdtempSync(path.join(tmpdir(), 'bsi-hooks-'));
    const file = path.join(dir, 'hooks.yaml');
    writeFileSync(file, 'webhooks: [{ name: chat, url: "https://hooks.example.com/x", format: slack }]\n');
    expect(readGlobalWebhooks({ BSI_WEBHOOKS_FILE: file })).toEqual([
      { name: 'chat', url: 'https://hooks.example.com/x', format: 'slack' },
    ]);
    expect(() => readGlobalWebhooks({ BSI_WEBHOOKS_FILE: path.join(dir, 'missing.yaml') })).toThrow(
      /BSI_WEBHOOKS_FILE=.*missing\.yaml: cannot read the file/,
    );
  });
});
