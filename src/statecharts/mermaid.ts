/**
 * Statechart diagrams generated from the machines themselves, never drawn by hand: the README's
 * lifecycle diagram is this output, and a test fails when the two drift apart.
 */
import type { CompiledMachine, MachineEvent } from '../compiled-machine.js';

/** The lines of a Mermaid `stateDiagram-v2` of a compiled machine: one edge per transition, guards in brackets. */
export function toMermaid<S extends string, C, E extends MachineEvent>(machine: CompiledMachine<S, C, E>): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${machine.initialState}`];
  for (const e of machine.edges()) {
    lines.push(`  ${e.from} --> ${e.to}: ${e.event}${e.guard === null ? '' : ` [${e.guard}]`}`);
  }
  for (const s of machine.states) if (machine.isFinal(s)) lines.push(`  ${s} --> [*]`);
  return lines.join('\n');
}
