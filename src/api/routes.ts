// The shape of a JSON API route: it returns the body, or throws ApiError for a 4xx/5xx with a message.
// A bare function answers GET (and HEAD); an object maps methods to handlers.

export interface ApiRequest {
  method: string;
  /** The request body parsed as JSON; rejects with a 400 ApiError when it is not JSON or too large. */
  json(): Promise<unknown>;
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
