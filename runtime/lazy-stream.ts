/**
 * The iterable a streaming call returns: it starts the call on its first
 * `next()`, so a stream that is never read sends nothing and holds nothing,
 * and it can be iterated once. Also the iterator of a call that failed
 * before it started.
 */
import type { RpcError } from "./rpc-error.js";

/**
 * An iterable that starts its call on the first `next()`, so one that is
 * never read sends nothing and holds nothing. It can be iterated once.
 */
class LazyStream<T> implements AsyncIterable<T>, AsyncIterator<T> {
  private used = false;
  private closed = false;
  private inner: AsyncIterator<T> | undefined;

  constructor(private readonly start: () => AsyncIterator<T>) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.used) {
      throw new TypeError("a leaksafe stream can be iterated only once; make another call to read again");
    }
    this.used = true;
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.closed) {
      return Promise.resolve({ value: undefined, done: true });
    }
    this.inner ??= this.start();
    return this.inner.next();
  }

  return(): Promise<IteratorResult<T>> {
    this.closed = true;
    return this.inner?.return?.() ?? Promise.resolve({ value: undefined, done: true });
  }
}

export function startOnFirstRead<T>(start: () => AsyncIterator<T>): AsyncIterable<T> {
  return new LazyStream(start);
}

export function failed<T>(error: RpcError): AsyncIterator<T> {
  let thrown = false;
  return {
    next(): Promise<IteratorResult<T>> {
      if (thrown) {
        return Promise.resolve({ value: undefined, done: true });
      }
      thrown = true;
      return Promise.reject(error);
    },
  };
}
