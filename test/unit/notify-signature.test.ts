// The X-BSI-Signature of a json delivery: HMAC-SHA256 of the raw body, checked against a published test vector.
import { signatureOf, verifySignature } from '../../activities/webhook-signature';

describe('webhook signature', () => {
  it('matches RFC 4231 test case 2 (key "Jefe")', () => {
    expect(signatureOf('what do ya want for nothing?', 'Jefe')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('verifies the signature of the same bytes only, under the same secret only', () => {
    const body = '{"id":"r/lane/3","kind":"breach"}';
    const header = signatureOf(body, 'a-secret-of-16-chars');
    expect(verifySignature(body, header, 'a-secret-of-16-chars')).toBe(true);
    expect(verifySignature(Buffer.from(body), header, 'a-secret-of-16-chars')).toBe(true);
    expect(verifySignature(`${body} `, header, 'a-secret-of-16-chars')).toBe(false);
    expect(verifySignature(body, header, 'another-secret-of-16')).toBe(false);
    expect(verifySignature(body, header.slice(0, -1), 'a-secret-of-16-chars')).toBe(false);
    expect(verifySignature(body, undefined, 'a-secret-of-16-chars')).toBe(false);
  });
});
