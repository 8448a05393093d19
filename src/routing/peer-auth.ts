import type { MtlsMode, PeerAuthPlan } from './types';

/** The namespace whose selector-less PeerAuthentication applies to the whole mesh (Istio's root namespace). */
export const MESH_ROOT_NAMESPACE = 'istio-system';

/** The mode that applies to a workload, and the policy that set it. */
export interface EffectiveMtls {
  mode: Exclude<MtlsMode, 'UNSET'>;
  /** `namespace/name` of the deciding policy; undefined: the default (PERMISSIVE). */
  ref?: string;
}

function labelsMatch(want: Readonly<Record<string, string>>, have: Readonly<Record<string, string>>): boolean {
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

/**
 * Istio's precedence: a policy of the workload's namespace whose selector matches its labels, then
 * the namespace's selector-less one, then the mesh-wide one (selector-less, in `istio-system`);
 * `UNSET` passes to the next; nothing set is PERMISSIVE. Among several at one level the first by
 * name wins (Istio takes the oldest; names are what a config directory has).
 */
export function mtlsModeFor(policies: readonly PeerAuthPlan[], namespace: string, labels: Readonly<Record<string, string>>): EffectiveMtls {
  const sorted = [...policies].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const levels = [
    sorted.filter((p) => p.namespace === namespace && p.matchLabels && labelsMatch(p.matchLabels, labels)),
    sorted.filter((p) => p.namespace === namespace && !p.matchLabels),
    sorted.filter((p) => p.namespace === MESH_ROOT_NAMESPACE && !p.matchLabels),
  ];
  for (const level of levels) {
    const p = level.find((x) => x.mode !== 'UNSET');
    if (p && p.mode !== 'UNSET') return { mode: p.mode, ref: p.ref };
  }
  return { mode: 'PERMISSIVE' };
}
