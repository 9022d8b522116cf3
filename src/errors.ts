// Errors caused by what the user typed or configured: the CLI prints their message, never a stack.
export class UserError extends Error {
  override name = 'UserError';
}
