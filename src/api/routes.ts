// The shape of a JSON API route: it returns the body, or throws ApiError for a 4xx/5xx with a message.

export type ApiRoute = (url: URL) => unknown | Promise<unknown>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
