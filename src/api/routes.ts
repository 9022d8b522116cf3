// The shape of a JSON API route: it returns the body (200, or another status wrapped in
// ApiResult), or throws ApiError for a 4xx/5xx with a message.
// A bare function answers GET (and HEAD); an object maps methods to handlers.

export interface ApiRequest {
  method: string;
  /** The request body parsed as JSON; rejects with a 400 ApiError when it is not JSON or too large. */
  json(): Promise<unknown>;
  /** Like json(), but an empty body is undefined: for actions whose fields are all optional. */
  optionalJson(): Promise<unknown>;
}

export type ApiHandler = (url: URL, req: ApiRequest) => unknown | Promise<unknown>;
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
export type ApiRoute = ApiHandler | Partial<Record<ApiMethod, ApiHandler>>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A body answered with a status other than 200, e.g. 201 Created. */
export class ApiResult {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

/** A body written as a stream (a large export), with its content type. */
export class ApiStream {
  constructor(
    readonly contentType: string,
    readonly write: (out: import('node:stream').Writable) => Promise<void>,
    readonly headers: Record<string, string> = {},
  ) {}
}
