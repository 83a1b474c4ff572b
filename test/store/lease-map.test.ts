/**
 * `LeaseMap` against a plain `Map` keyed by `leaseKey` (what it replaced), over random sequences
 * of sets, gets, deletes and clears on a few job ids with several leases each: the chained case
 * (a lost lease still running beside the job's next one) is the one a drain never exercises.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseMap } from '../../src/store/lease-map.js';
import { leaseKey } from '../../src/store/store.js';

type Op = { op: 'set'; id: number; token: number; value: number } | { op: 'delete' | 'get'; id: number; token: number } | { op: 'clear' };

const lease = { id: fc.integer({ min: 1, max: 4 }), token: fc.integer({ min: 0, max: 3 }) };
const ops = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), ...lease, value: fc.integer() }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), ...lease }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('get' as const), ...lease }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
  ),
  { maxLength: 60 },
);

describe('LeaseMap', () => {
  it('answers as a Map keyed by "id:token" does, after any sequence of operations', () => {
    fc.assert(
      fc.property(ops, (sequence: Op[]) => {
        const map = new LeaseMap<number>();
        const model = new Map<string, number>();
        for (const o of sequence) {
          if (o.op === 'set') {
            map.set(o.id, o.token, o.value);
            model.set(leaseKey(o.id, o.token), o.value);
          } else if (o.op === 'delete') {
            expect(map.delete(o.id, o.token)).toBe(model.delete(leaseKey(o.id, o.token)));
          } else if (o.op === 'get') {
            expect(map.get(o.id, o.token)).toBe(model.get(leaseKey(o.id, o.token)));
            expect(map.has(o.id, o.token)).toBe(model.has(leaseKey(o.id, o.token)));
          } else {
            map.clear();
            model.clear();
          }
          expect(map.size).toBe(model.size);
        }
        expect([...map.values()].sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the other leases of a job when one is deleted from the head, the middle or the end of its chain', () => {
    const map = new LeaseMap<string>();
    for (const token of [1, 2, 3]) map.set(7, token, `t${token}`);
    map.set(8, 1, 'other');
    expect(map.delete(7, 2)).toBe(true); // middle
    expect([map.get(7, 1), map.get(7, 2), map.get(7, 3)]).toEqual(['t1', undefined, 't3']);
    expect(map.delete(7, 3)).toBe(true); // head (newest)
    expect(map.get(7, 1)).toBe('t1');
    expect(map.delete(7, 1)).toBe(true); // the last one
    expect(map.delete(7, 1)).toBe(false);
    expect(map.size).toBe(1);
    expect([...map.values()]).toEqual(['other']);
  });
});
