/**
 * gRPC's standard interop cases, written against a leaksafe client; they
 * run against servers we did not write. Each case throws if the peer
 * misbehaves.
 */
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { type CallOptions, RpcError, Status } from "leaksafe";
import { ECHO_INITIAL, ECHO_TRAILING, type Payload, payload } from "./test-service.js";

/** The leaksafe client of the generated TestService, as far as the cases use it. */
export interface TestClient {
  emptyCall(request: object, options?: CallOptions): Promise<object>;
  unaryCall(request: object, options?: CallOptions): Promise<{ payload?: Payload | undefined }>;
  streamingOutputCall(request: object, options?: CallOptions): AsyncIterable<{ payload?: Payload | undefined }>;
  streamingInputCall(
    requests: AsyncIterable<object> | Iterable<object>,
    options?: CallOptions,
  ): Promise<{ aggregatedPayloadSize: number }>;
  fullDuplexCall(
    requests: AsyncIterable<object> | Iterable<object>,
    options?: CallOptions,
  ): AsyncIterable<{ payload?: Payload | undefined }>;
  unimplementedCall(request: object, options?: CallOptions): Promise<object>;
}

const SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

async function expectError(promise: Promise<unknown>, code: Status, details?: string): Promise<RpcError> {
  const error = await promise.then(
    () => assert.fail(`expected ${Status[code]}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof RpcError, String(error));
  assert.equal(Status[error.code], Status[code], error.message);
  if (details !== undefined) assert.equal(error.details, details);
  return error;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const sizes = (responses: Array<{ payload?: Payload | undefined }>): number[] =>
  responses.map((r) => r.payload?.body.length ?? 0);

/** A request stream fed one message at a time by the test. */
function queue<T>() {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  return {
    push(item: T) {
      items.push(item);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = items.shift();
        if (item !== undefined) {
          yield item;
        } else if (closed) {
          return;
        } else {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      }
    },
  };
}

export const CASES: Record<string, (client: TestClient) => Promise<void>> = {
  async empty_unary(client) {
    assert.deepEqual(await client.emptyCall({}), {});
  },
  async large_unary(client) {
    const response = await client.unaryCall({ responseSize: 314159, payload: payload(271828) });
    assert.equal(response.payload?.body.length, 314159);
  },
  async client_streaming(client) {
    const response = await client.streamingInputCall([27182, 8, 1828, 45904].map((n) => ({ payload: payload(n) })));
    assert.equal(response.aggregatedPayloadSize, 74922);
  },
  async server_streaming(client) {
    const responses = await collect(
      client.streamingOutputCall({
        responseParameters: [31415, 9, 2653, 58979].map((size) => ({ size, intervalUs: 0 })),
      }),
    );
    assert.deepEqual(sizes(responses), [31415, 9, 2653, 58979]);
  },
  async ping_pong(client) {
    const requests = queue<object>();
    const pairs: Array<[number, number]> = [
      [27182, 31415],
      [8, 9],
      [1828, 2653],
      [45904, 58979],
    ];
    let i = 0;
    requests.push({
      responseParameters: [{ size: pairs[0]?.[1], intervalUs: 0 }],
      payload: payload(pairs[0]?.[0] ?? 0),
    });
    for await (const response of client.fullDuplexCall(requests)) {
      assert.equal(response.payload?.body.length, pairs[i]?.[1]);
      i++;
      const next = pairs[i];
      if (next === undefined) requests.close();
      else requests.push({ responseParameters: [{ size: next[1], intervalUs: 0 }], payload: payload(next[0]) });
    }
    assert.equal(i, 4);
  },
  async empty_stream(client) {
    assert.deepEqual(await collect(client.fullDuplexCall([])), []);
  },
  async cancel_after_begin(client) {
    const controller = new AbortController();
    const requests = queue<object>();
    const call = client.streamingInputCall(requests, { signal: controller.signal });
    controller.abort();
    const error = await expectError(call, Status.CANCELLED);
    assert.equal(error.reason, "cancelled");
  },
  async cancel_after_first_response(client) {
    const controller = new AbortController();
    const requests = queue<object>();
    requests.push({ responseParameters: [{ size: 31415, intervalUs: 0 }], payload: payload(27182) });
    const error = await expectError(
      (async () => {
        for await (const response of client.fullDuplexCall(requests, { signal: controller.signal })) {
          assert.equal(response.payload?.body.length, 31415);
          controller.abort();
        }
      })(),
      Status.CANCELLED,
    );
    assert.equal(error.reason, "cancelled");
  },
  async timeout_on_sleeping_server(client) {
    const requests = queue<object>();
    requests.push({ responseParameters: [{ size: 31415, intervalUs: 200_000 }], payload: payload(27182) });
    const error = await expectError(
      collect(client.fullDuplexCall(requests, { timeoutMs: 1 })),
      Status.DEADLINE_EXCEEDED,
    );
    assert.equal(error.reason, "deadline");
    requests.close();
  },
  async custom_metadata(client) {
    const trailing = Buffer.from([0xab, 0xab, 0xab]);
    const metadata = (): Metadata => {
      const m = new Metadata();
      m.set(ECHO_INITIAL, "test_initial_metadata_value");
      m.set(ECHO_TRAILING, trailing);
      return m;
    };
    for (const kind of ["unary", "bidi"]) {
      const seen: { header?: Metadata; trailer?: Metadata } = {};
      const options = {
        metadata: metadata(),
        onHeader: (m: Metadata) => {
          seen.header = m;
        },
        onTrailer: (m: Metadata) => {
          seen.trailer = m;
        },
      };
      if (kind === "unary") {
        await client.unaryCall({ responseSize: 314159, payload: payload(271828) }, options);
      } else {
        await collect(
          client.fullDuplexCall(
            [{ responseParameters: [{ size: 314159, intervalUs: 0 }], payload: payload(271828) }],
            options,
          ),
        );
      }
      assert.deepEqual(seen.header?.get(ECHO_INITIAL), ["test_initial_metadata_value"], kind);
      assert.deepEqual(seen.trailer?.get(ECHO_TRAILING), [trailing], kind);
    }
  },
  async status_code_and_message(client) {
    const status = { code: 2, message: "test status message" };
    await expectError(client.unaryCall({ responseSize: 1, responseStatus: status }), Status.UNKNOWN, status.message);
    await expectError(
      collect(client.fullDuplexCall([{ responseParameters: [], responseStatus: status }])),
      Status.UNKNOWN,
      status.message,
    );
  },
  async special_status_message(client) {
    await expectError(
      client.unaryCall({ responseSize: 1, responseStatus: { code: 2, message: SPECIAL } }),
      Status.UNKNOWN,
      SPECIAL,
    );
  },
  async unimplemented_method(client) {
    await expectError(client.unimplementedCall({}), Status.UNIMPLEMENTED);
  },
};
