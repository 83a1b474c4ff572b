/**
 * Which retry policy and escalation rule a job gets: its own, else its handler name's, else the
 * store's default. Resolved once at enqueue and stored on the job, so every process that later
 * fails or recovers the job applies the same policy.
 */
import { resolveRetryPolicy, type EscalationRule, type RetryConfig, type RetryPolicyInput } from '../config.js';
import { RetryPolicies, type RetryPolicy } from './retry-policy.js';

/** Resolved policies of a store. */
export interface JobPolicies {
  readonly defaultRetry: RetryPolicy;
  readonly retryByName: ReadonlyMap<string, RetryPolicy>;
  readonly escalateByName: ReadonlyMap<string, EscalationRule>;
}

/** Resolves validated retry and escalation configuration. */
export function resolveJobPolicies(retry: RetryConfig | undefined, escalate: Readonly<Record<string, EscalationRule>> | undefined): JobPolicies {
  let defaultInput: RetryPolicyInput | undefined;
  let byName: Readonly<Record<string, RetryPolicyInput>> = {};
  if (typeof retry === 'string') {
    defaultInput = retry;
  } else if (retry !== undefined) {
    const { byName: perName, ...fields } = retry;
    defaultInput = fields;
    byName = perName ?? {};
  }
  const defaultRetry = resolveRetryPolicy(defaultInput, RetryPolicies.DEFAULT);
  return Object.freeze({
    defaultRetry,
    retryByName: new Map(Object.entries(byName).map(([name, p]) => [name, resolveRetryPolicy(p, defaultRetry)])),
    escalateByName: new Map(Object.entries(escalate ?? {})),
  });
}

/** The retry policy of a job named `name` with its own optional override. */
export function retryPolicyFor(policies: JobPolicies, name: string, own: RetryPolicyInput | undefined): RetryPolicy {
  const base = policies.retryByName.get(name) ?? policies.defaultRetry;
  return own === undefined ? base : resolveRetryPolicy(own, base);
}

/** The escalation rule of a job named `name`: its own (`null` turns the name's rule off), else the name's. */
export function escalationFor(policies: JobPolicies, name: string, own: EscalationRule | null | undefined): EscalationRule | null {
  if (own === null) return null;
  return own ?? policies.escalateByName.get(name) ?? null;
}
