import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { emitEnvSchema } from '../../services/emit-api/src/config/emit-config.js';
import { gatewayEnvSchema } from '../../services/gateway/src/config/gateway-config.js';

const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));

// Every kind the manifests may contain, with the schema it must satisfy.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/Ingress': Ingress,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

// Which service's configuration each container runs.
const SCHEMAS: Record<string, z.ZodObject> = { gateway: gatewayEnvSchema, 'emit-api': emitEnvSchema };

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are checked field by field below */
type Obj = any;

/** Renders a kustomization with kustomize as built into kubectl; needs no cluster and no network. */
function render(dir: string): Obj[] {
  let out: string;
  try {
    out = execFileSync('kubectl', ['kustomize', `${deployDir}${dir}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('these checks render with `kubectl kustomize` (kubectl 1.27 or later): install kubectl');
    throw new Error(`kubectl kustomize deploy/${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

function envOf(container: Obj, objects: Obj[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef.name);
    expect(cm, `ConfigMap ${from.configMapRef.name} referenced by ${container.name}`).toBeDefined();
    Object.assign(env, cm.data);
  }
  for (const { name, value } of container.env ?? []) env[name] = value;
  return env;
}

describe.each(['base', 'overlays/production'])('deploy/%s', (dir) => {
  const objects = render(dir);
  const deployments = objects.filter((o) => o.kind === 'Deployment');

  it('renders, and every object satisfies its Kubernetes schema', () => {
    expect(deployments.map((d) => d.spec.template.spec.containers[0].name).sort()).toEqual(['emit-api', 'gateway']);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `no schema known for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it.each(['gateway', 'emit-api'])('%s: configuration parses with the service’s own schema, probes hit the admin port, shutdown fits the grace period', (name) => {
    const deployment = deployments.find((d) => d.spec.template.spec.containers[0].name === name);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const env = envOf(container, objects);
    const schema = SCHEMAS[name]!;
    expect(Object.keys(env).filter((k) => !(k in schema.shape)), 'variables the service does not read').toEqual([]);
    const parsed = schema.safeParse(env);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    const config = parsed.data as Record<string, number | string>;

    const port = (portName: string) => container.ports.find((p: Obj) => p.name === portName)?.containerPort;
    expect(port('admin')).toBe(config.ADMIN_PORT);
    expect(container.ports.some((p: Obj) => p.name !== 'admin' && p.containerPort === config.PORT)).toBe(true);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });

    const [sleep, seconds] = container.lifecycle.preStop.exec.command;
    expect(sleep).toBe('sleep');
    const needed = Number(seconds) + (Number(config.SHUTDOWN_DELAY_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000;
    expect(pod.terminationGracePeriodSeconds, 'preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS must end before SIGKILL').toBeGreaterThan(needed);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);

    // The apps file comes from the Secret, read-only.
    const mount = container.volumeMounts.find((m: Obj) => String(config.APPS_FILE).startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.secret.secretName).toBe('signal-apps');
    expect(volume.secret.items).toContainEqual({ key: 'apps.json', path: String(config.APPS_FILE).slice(mount.mountPath.length + 1) });

    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(container.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() });
    expect(container.resources.limits.memory).toBeDefined();
  });

  it('services, budgets, autoscalers, ingresses and monitors all point at something that exists', () => {
    const podLabels = deployments.map((d) => ({ deployment: d, labels: d.spec.template.metadata.labels }));
    const services = objects.filter((o) => o.kind === 'Service');
    for (const service of services) {
      const target = podLabels.find((p) => matches(service.spec.selector, p.labels));
      expect(target, `Service ${service.metadata.name} selects no pods`).toBeDefined();
      const containerPorts = target!.deployment.spec.template.spec.containers.flatMap((c: Obj) => c.ports.map((p: Obj) => p.name));
      for (const port of service.spec.ports) expect(containerPorts).toContain(port.targetPort);
    }
    for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
      expect(podLabels.some((p) => matches(pdb.spec.selector.matchLabels, p.labels)), `PDB ${pdb.metadata.name}`).toBe(true);
    }
    for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      expect(deployments.map((d) => d.metadata.name)).toContain(hpa.spec.scaleTargetRef.name);
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    }
    for (const deployment of deployments) {
      const selector = deployment.spec.selector.matchLabels;
      expect(matches(selector, deployment.spec.template.metadata.labels)).toBe(true);
      expect(objects.filter((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector.matchLabels, deployment.spec.template.metadata.labels))).toHaveLength(1);
    }
    for (const ingress of objects.filter((o) => o.kind === 'Ingress')) {
      for (const path of ingress.spec.rules.flatMap((r: Obj) => r.http.paths)) {
        const service = services.find((s) => s.metadata.name === path.backend.service.name);
        expect(service?.spec.ports.map((p: Obj) => p.name)).toContain(path.backend.service.port.name);
        expect(path.backend.service.port.name).not.toBe('admin');
      }
    }
    for (const monitor of objects.filter((o) => o.kind === 'ServiceMonitor')) {
      const service = services.find((s) => matches(monitor.spec.selector.matchLabels, s.metadata.labels));
      expect(service?.spec.ports.map((p: Obj) => p.name)).toContain(monitor.spec.endpoints[0].port);
    }
    if (dir !== 'base') {
      for (const object of objects.filter((o) => o.kind !== 'Namespace')) expect(object.metadata.namespace).toBe('signal');
      for (const container of deployments.map((d) => d.spec.template.spec.containers[0])) expect(container.image).toMatch(/:[\w.-]+$/);
    }
  });
});
