// Checks helios.create_webhook(...) calls on their way through the proxy, as the REST API checks
// a new webhook: the URL well-formed and answering, the condition compiling. The SQL function can
// check the URL's shape only; without this, a typo in a condition or an endpoint that does not
// exist would be found only when the first change is captured. A failed check refuses the
// statement with SQLSTATE 22023 and says why, before the server sees it.
//
// Only a plain `SELECT helios.create_webhook(...)` or `SELECT ... FROM helios.create_webhook(...)`
// is judged, with arguments that are literals (casts allowed) or text-format Bind parameters,
// positional or named. Anything else (the call nested in an expression, values computed in SQL)
// goes through: the function itself still checks what it can.
import { loadModule, parseSync } from 'libpg-query';
import type { WebhookService } from '../src/webhooks/service.ts';
import { Decisions, type Plugin, type PluginContext, type QueryInfo } from './contract.ts';

/** helios.create_webhook's parameters in order: positional arguments are named by their place. */
const PARAMETERS = ['name', 'url', 'tables', 'operations', 'condition', 'secret', 'batch_size', 'rate_limit', 'max_attempts'];

type Node = Record<string, any>;

/** Not readable here: a value computed in SQL, a binary parameter. */
const UNREADABLE = Symbol('unreadable');
type Value = string | null | typeof UNREADABLE;

function isCreateWebhook(node: Node | undefined): node is { FuncCall: Node } {
  const names = (node?.FuncCall?.funcname ?? []) as Node[];
  return names.length === 2 && names[0]?.String?.sval === 'helios' && names[1]?.String?.sval === 'create_webhook';
}

/** The create_webhook call of a plain SELECT of it, or null. */
export function createWebhookCall(sql: string): Node | null {
  let stmts: Node[];
  try {
    stmts = (parseSync(sql) as Node).stmts ?? [];
  } catch {
    return null;
  }
  if (stmts.length !== 1) return null;
  const select = stmts[0]!.stmt?.SelectStmt as Node | undefined;
  if (!select || select.op !== 'SETOP_NONE' || select.withClause) return null;
  const from = (select.fromClause ?? []) as Node[];
  const targets = (select.targetList ?? []) as Node[];
  if (from.length === 0) {
    // SELECT helios.create_webhook(...)
    const val = targets.length === 1 ? (targets[0]!.ResTarget?.val as Node | undefined) : undefined;
    return isCreateWebhook(val) ? val.FuncCall : null;
  }
  // SELECT * FROM helios.create_webhook(...), or some of its columns.
  if (from.length !== 1) return null;
  const fns = (from[0]!.RangeFunction?.functions ?? []) as Node[];
  const call = fns.length === 1 ? (fns[0]!.List?.items?.[0] as Node | undefined) : undefined;
  return isCreateWebhook(call) ? call.FuncCall : null;
}

function valueOf(node: Node | undefined, q: QueryInfo): Value {
  if (!node) return UNREADABLE;
  if (node.TypeCast) return valueOf(node.TypeCast.arg as Node, q);
  const c = node.A_Const as Node | undefined;
  if (c) {
    if (c.isnull) return null;
    if (c.sval) return String(c.sval.sval ?? '');
    return UNREADABLE;
  }
  const p = node.ParamRef as Node | undefined;
  if (p && typeof p.number === 'number') {
    const i = p.number - 1;
    const v = q.params?.[i];
    if (v === undefined || q.paramFormats?.[i] !== 0) return v === null ? null : UNREADABLE;
    return v === null ? null : v.toString('utf8');
  }
  return UNREADABLE;
}

/** The call's url and condition arguments as far as they can be read. */
export function createWebhookArgs(call: Node, q: QueryInfo): { url: Value; condition: Value } {
  const args: Record<string, Value> = {};
  ((call.args ?? []) as Node[]).forEach((a, i) => {
    if (a.NamedArgExpr) args[String(a.NamedArgExpr.name)] = valueOf(a.NamedArgExpr.arg as Node, q);
    else if (PARAMETERS[i]) args[PARAMETERS[i]] = valueOf(a, q);
  });
  // Left out: the default, NULL (every change).
  return { url: 'url' in args ? args.url! : UNREADABLE, condition: 'condition' in args ? args.condition! : null };
}

/** The reason to refuse the call, or null to let it through. */
async function judge(service: WebhookService, url: Value, condition: Value): Promise<string | null> {
  // Loaded on first use: the plugin registry (read by config parsing, hence by every command) stays light.
  const [{ validateNewWebhook, WebhookValidationError }, { compileCondition, ConditionError }] = await Promise.all([
    import('../src/webhooks/service.ts'),
    import('../src/cdc/condition/index.ts'),
  ]);
  try {
    if (typeof url === 'string') {
      await validateNewWebhook({ url, condition: typeof condition === 'string' ? condition : null }, service.delivery.probeTimeoutMs);
    } else if (typeof condition === 'string' && condition.trim() !== '') {
      // The URL is computed in SQL: the condition can still be checked.
      await compileCondition(condition).catch((err: unknown) => {
        throw err instanceof ConditionError ? new WebhookValidationError(`invalid condition: ${(err as Error).message}`) : err;
      });
    }
    return null;
  } catch (err) {
    if (err instanceof WebhookValidationError) return err.message;
    throw err;
  }
}

export function createWebhooksPlugin(service: WebhookService): Plugin {
  let log: PluginContext['log'] = () => {};
  return {
    name: 'webhooks',
    async init(ctx) {
      log = ctx.log;
      await loadModule();
    },
    onQuery(q) {
      // Judged once per execution, when Bind parameters are known; the cheap text test keeps every other statement on the fast path.
      if (q.phase !== 'execute' || q.kind !== 'SELECT' || !/create_webhook/i.test(q.text)) return;
      // A Bind too large to decode has no parameters to read, and the proxy cannot wait on a decision for it.
      if (q.protocol === 'extended' && q.params === undefined) return;
      const call = createWebhookCall(q.text);
      if (!call) return;
      const { url, condition } = createWebhookArgs(call, q);
      return judge(service, url, condition).then(
        (reason) => (reason === null ? undefined : Decisions.deny('22023', reason)),
        (err: Error) => {
          // A failure of the check itself is not a verdict on the webhook: the function runs and checks what it can.
          log('warn', 'webhooks: could not check a create_webhook call; letting it through', { error: err.message });
          return undefined;
        },
      );
    },
  };
}
