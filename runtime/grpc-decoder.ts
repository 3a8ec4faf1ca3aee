/**
 * grpc-js's message decoder (its private `StreamDecoder`), as leaksafe reads
 * it on both sides. grpc-js drops the bytes of a message left unfinished
 * when a stream ends, so such an end would look normal; its decoder's
 * private `readState` tells: 0 between messages, 1 in the 5-byte length
 * prefix, 2 in the message, with `readMessageSize` and
 * `readMessageRemaining` for the latter.
 */
export interface DecoderState {
  readState?: unknown;
  readMessageSize?: unknown;
  readMessageRemaining?: unknown;
}

/**
 * Why a `side` stream that has ended was cut short inside a message, or
 * undefined when it ended between messages, or when the decoder's state is
 * missing (a grpc-js release moved it: the truncation tests then fail).
 */
export function cutShort(decoder: DecoderState | undefined, side: "request" | "response"): string | undefined {
  switch (decoder?.readState) {
    case 1:
      return `the ${side} stream ended inside a message's 5-byte length prefix`;
    case 2: {
      const size = Number(decoder.readMessageSize);
      const got = size - Number(decoder.readMessageRemaining);
      return `the ${side} stream ended inside a message: ${got} of its ${size} bytes arrived`;
    }
    default:
      return undefined;
  }
}
