/**
 * The error a person can act on, and the process exit codes the `rollout` command ends with (documented in the
 * README's CLI reference). Here, below every command's floor, so that commands outside `cli/` (`rollout replay`)
 * throw the same error the CLI reports without a stack trace.
 */
/** Exit codes: documented in the README's CLI reference. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  unknownRollout: 3,
  refused: 4,
  unreachable: 5,
  /** The API refused the token (401) or its roles (403). */
  unauthorized: 6,
} as const;

/** A mistake in the user's input or environment; `exitCode` says which kind. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
    this.name = 'UserError';
  }
}
