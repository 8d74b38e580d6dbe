/** Runs a FunctionSpec's first operation in-process, as the host would after validating the body. */
import type { FunctionSpec, InvocationContext } from '../../shared/platform/operation.ts';
import { createLogger } from '../../shared/platform/logger.ts';

/** An HTTP invocation by the first API token, with no deadline and a signal that is never aborted. */
export function testInvocation(functionName: string): InvocationContext {
  return {
    requestId: 'r-1',
    log: createLogger({ functionName, level: 'silent' }),
    trigger: 'http',
    actor: 'token#1',
    deadline: Number.MAX_SAFE_INTEGER,
    signal: new AbortController().signal,
  };
}

/** `body` parsed by the first operation's input schema, then run; throws what the operation throws. */
export async function runFirstOperation(
  spec: FunctionSpec,
  body: unknown,
  ctx: InvocationContext,
): Promise<unknown> {
  const [op] = spec.operations;
  if (op === undefined) throw new Error(`${spec.name} has no operation`);
  return op.run(op.input.parse(body), ctx);
}
