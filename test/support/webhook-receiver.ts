// A local HTTP webhook receiver for the notification tests: records every request (raw body, headers, time) and
// answers each event id (X-BSI-Event-Id) with a scripted sequence of statuses, then 200.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver saw. */
export interface ReceivedRequest {
  path: string;
  /** Lower-case header names, as Node gives them. */
  headers: http.IncomingHttpHeaders;
  /** The raw body, as the bytes arrived (UTF-8). */
  body: string;
  /** What the receiver answered. */
  status: number;
  /** When the request arrived (ms since the epoch). */
  receivedAt: number;
}

/** A running receiver: `url` to post to, what it saw, and `close()`. */
export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * Starts a receiver on 127.0.0.1 (a free port). `script` is the statuses the n-th request of one event id gets
 * (200 once it runs out); `delayMs` holds every answer that long.
 */
export async function startWebhookReceiver(
  options: { script?: number[]; delayMs?: number } = {},
): Promise<WebhookReceiver> {
  const script = options.script ?? [];
  const requests: ReceivedRequest[] = [];
  const seen = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const receivedAt = Date.now();
      const id = String(req.headers['x-bsi-event-id'] ?? '');
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      const status = script[n] ?? 200;
      requests.push({
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status,
        receivedAt,
      });
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status === 200 ? 'ok' : 'not now');
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
