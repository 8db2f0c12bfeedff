/**
 * The signature of a `json` webhook delivery: `X-BSI-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw request
 * body (its exact bytes) under the webhook's secret. The body is the same on every attempt, so is the signature.
 */
import crypto from 'node:crypto';

/** The header that carries the signature. */
export const SIGNATURE_HEADER = 'X-BSI-Signature';
/** The header that carries the notification id (the domain event's id): receivers dedupe by it. */
export const EVENT_ID_HEADER = 'X-BSI-Event-Id';
/** The header that carries the time of the attempt, in Unix seconds (not signed: the body's `at` is). */
export const TIMESTAMP_HEADER = 'X-BSI-Timestamp';

/** The `X-BSI-Signature` value of `body` under `secret`: `sha256=` and 64 lower-case hex digits. */
export function signatureOf(body: string | Buffer, secret: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Whether `header` is the signature of `body` under `secret`, compared in constant time: what a receiver runs on the
 * raw body before it parses it (a re-serialized body may differ in bytes and fail).
 */
export function verifySignature(body: string | Buffer, header: string | undefined, secret: string): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signatureOf(body, secret));
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}
