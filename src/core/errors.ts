/**
 * An error the user can act on: the CLI prints its message on one line, without a stack trace.
 * Throw it for bad input (missing files, corrupt data, wrong shapes); let programming errors
 * surface as ordinary exceptions.
 */
export class TernlmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TernlmError';
  }
}
