/**
 * A flat XState machine compiled into a lookup table.
 *
 * Why: an XState actor costs 20–34 µs to create and 12–25 µs per event, and `transition()`
 * about 50 µs (DESIGN.md, "Known facts"). leasehold applies several job events per job and
 * runs tens of thousands of jobs a second, so stores and the per-job and per-slot actors do not
 * interpret the machine on the hot path: they look transitions up in this table, built once from
 * the machine's own definition (its state nodes, transitions, guard and action names), and call
 * the very guard and update functions the machine was set up with. Nothing is written twice.
 * `test/compiled-machine.test.ts` checks the table against `xstate.transition()` for every
 * state, event and guard outcome.
 *
 * Supported: one level of atomic states, `on` transitions (targeted or targetless) with named
 * guards and named assign-style actions, `type: 'final'` and tags. Anything else (nested or
 * parallel states, eventless or delayed transitions, invocations, entry/exit actions, inline
 * guards, unknown actions) fails at compile time, so the table can never silently drop part of a
 * machine.
 */
import type { AnyStateMachine } from 'xstate';

/** An event as the compiled machine sees it. */
export interface MachineEvent {
  readonly type: string;
}

type Args<C, E> = { readonly context: C; readonly event: E };

/** The guard and update functions a machine was set up with, by name. */
export interface MachineImplementations<C, E> {
  readonly guards: Readonly<Record<string, (args: Args<C, E>) => boolean>>;
  readonly updates: Readonly<Record<string, (args: Args<C, E>) => Partial<C>>>;
}

interface CompiledTransition<S extends string> {
  readonly guard: string | null;
  readonly target: S | null;
  readonly actions: readonly string[];
}

/** The outcome of one event: the state and context after it. */
export interface Step<S extends string, C> {
  readonly state: S;
  readonly context: C;
}

/** A machine compiled into a table. See the module comment. */
export interface CompiledMachine<S extends string, C, E extends MachineEvent> {
  /** The machine's id. */
  readonly id: string;
  /** Every state, in definition order. */
  readonly states: readonly S[];
  /** Every event type some state handles, in first-seen order. */
  readonly events: readonly string[];
  /** Where `event` leads from `state` with `context`; `undefined` when the machine does not handle it there. */
  next(state: S, context: C, event: E): Step<S, C> | undefined;
  /** True when some guard outcome lets `eventType` leave `state`. */
  handles(state: S, eventType: string): boolean;
  /** Every state `eventType` can lead to from `state` under any guard outcome. */
  targets(state: S, eventType: string): readonly S[];
  /** Every `(from, event, to)` triple the machine allows, for database constraints and diagrams. */
  triples(): ReadonlyArray<readonly [S, string, S]>;
  /** Every transition edge as written in the machine, guard included, for diagrams. */
  edges(): ReadonlyArray<{ readonly from: S; readonly event: string; readonly to: S; readonly guard: string | null }>;
  /** True for `type: 'final'` states. */
  isFinal(state: S): boolean;
  /** True when `state` carries `tag`. */
  hasTag(state: S, tag: string): boolean;
  /** The initial state as written in the machine. */
  readonly initialState: S;
}

function nameOf(kind: string, where: string, ref: unknown): string {
  if (typeof ref === 'string') return ref;
  if (ref !== null && typeof ref === 'object' && typeof (ref as { type?: unknown }).type === 'string' && !('params' in ref && (ref as { params?: unknown }).params !== undefined)) {
    return (ref as { type: string }).type;
  }
  throw new Error(`compileMachine: ${where} uses an inline or parameterised ${kind}; only named ${kind}s compile`);
}

interface RawTransition {
  readonly guard?: unknown;
  readonly target?: ReadonlyArray<{ readonly key: string; readonly parent?: unknown }> | undefined;
  readonly actions: readonly unknown[];
  readonly reenter?: boolean;
}

interface RawStateNode {
  readonly key: string;
  readonly type: string;
  readonly tags: readonly string[];
  readonly states: Readonly<Record<string, RawStateNode>>;
  readonly on: Readonly<Record<string, readonly RawTransition[]>>;
  readonly always?: readonly RawTransition[] | undefined;
  readonly after: readonly unknown[];
  readonly invoke: readonly unknown[];
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
}

/**
 * Compiles a flat machine. Throws if the machine uses a feature the table cannot express, or
 * names a guard or action missing from `impl`.
 */
export function compileMachine<S extends string, C, E extends MachineEvent>(
  machine: AnyStateMachine,
  impl: MachineImplementations<C, E>,
): CompiledMachine<S, C, E> {
  const root = machine.root as unknown as RawStateNode & { initial?: { target?: ReadonlyArray<{ key: string }> } };
  const rootOn = Object.keys(root.on);
  if (rootOn.length > 0) throw new Error(`compileMachine: root-level transitions (${rootOn.join(', ')}) are not supported`);
  const states = Object.keys(root.states) as S[];
  const table = new Map<S, Map<string, CompiledTransition<S>[]>>();
  const events: string[] = [];

  const compileTransition = (where: string, t: RawTransition): CompiledTransition<S> => {
    const guard = t.guard === undefined ? null : nameOf('guard', where, t.guard);
    if (guard !== null && !(guard in impl.guards)) throw new Error(`compileMachine: ${where} names guard "${guard}", which is not implemented`);
    const actions = t.actions.map((a) => nameOf('action', where, a));
    for (const a of actions) {
      if (!(a in impl.updates)) throw new Error(`compileMachine: ${where} names action "${a}", which has no update function`);
    }
    if (t.target !== undefined && t.target.length > 1) throw new Error(`compileMachine: ${where} has several targets`);
    if ((t.target === undefined || t.target.length === 0) && actions.length === 0) {
      throw new Error(`compileMachine: ${where} has neither a target nor actions (XState treats it as unhandled)`);
    }
    const targetNode = t.target?.[0];
    const target = targetNode === undefined ? null : (targetNode.key as S);
    if (target !== null && !states.includes(target)) throw new Error(`compileMachine: ${where} targets nested state "${target}"`);
    return { guard, target, actions };
  };

  for (const key of states) {
    const node = root.states[key] as RawStateNode;
    const where = `state "${key}"`;
    if (Object.keys(node.states).length > 0) throw new Error(`compileMachine: ${where} has child states`);
    if (node.after.length > 0 || node.invoke.length > 0 || (node.always?.length ?? 0) > 0) {
      throw new Error(`compileMachine: ${where} uses eventless or delayed transitions, or invocations`);
    }
    if (node.entry.length > 0 || node.exit.length > 0) throw new Error(`compileMachine: ${where} has entry/exit actions`);
    const byEvent = new Map<string, CompiledTransition<S>[]>();
    for (const [eventType, list] of Object.entries(node.on)) {
      if (eventType.includes('*')) throw new Error(`compileMachine: ${where} uses a wildcard event`);
      byEvent.set(
        eventType,
        list.map((t) => compileTransition(`${where} on ${eventType}`, t)),
      );
      if (!events.includes(eventType)) events.push(eventType);
    }
    table.set(key, byEvent);
  }

  const initialState = root.initial?.target?.[0]?.key as S | undefined;
  if (initialState === undefined) throw new Error('compileMachine: the machine has no initial state');

  const passes = (t: CompiledTransition<S>, context: C, event: E): boolean =>
    t.guard === null || (impl.guards[t.guard] as (a: Args<C, E>) => boolean)({ context, event });

  const apply = (t: CompiledTransition<S>, context: C, event: E): C => {
    let next = context;
    for (const a of t.actions) next = { ...next, ...(impl.updates[a] as (x: Args<C, E>) => Partial<C>)({ context: next, event }) };
    return next;
  };

  const targetsCache = new Map<string, readonly S[]>();
  const compiled: CompiledMachine<S, C, E> = {
    id: machine.id,
    states,
    events,
    initialState,
    next(state, context, event) {
      const list = table.get(state)?.get(event.type);
      if (list === undefined) return undefined;
      const t = list.find((x) => passes(x, context, event));
      if (t === undefined) return undefined;
      return { state: t.target ?? state, context: apply(t, context, event) };
    },
    handles(state, eventType) {
      return (table.get(state)?.get(eventType)?.length ?? 0) > 0;
    },
    targets(state, eventType) {
      const key = `${state}\u0000${eventType}`;
      let hit = targetsCache.get(key);
      if (hit === undefined) {
        const out = new Set<S>();
        for (const t of table.get(state)?.get(eventType) ?? []) {
          out.add(t.target ?? state);
        }
        hit = Object.freeze([...out]);
        targetsCache.set(key, hit);
      }
      return hit;
    },
    triples() {
      const out: Array<readonly [S, string, S]> = [];
      for (const from of states) {
        for (const eventType of table.get(from)?.keys() ?? []) {
          for (const to of compiled.targets(from, eventType)) out.push([from, eventType, to] as const);
        }
      }
      return out;
    },
    edges() {
      const out: Array<{ from: S; event: string; to: S; guard: string | null }> = [];
      for (const from of states) {
        for (const [eventType, list] of table.get(from) ?? []) {
          for (const t of list) out.push({ from, event: eventType, to: t.target ?? from, guard: t.guard });
        }
      }
      return out;
    },
    isFinal(state) {
      return (root.states[state])?.type === 'final';
    },
    hasTag(state, tag) {
      return (root.states[state])?.tags.includes(tag) ?? false;
    },
  };
  return compiled;
}
