import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { emitEnvSchema } from '../../services/emit-api/src/config/emit-config.js';
import { webhooksEnvSchema } from '../../services/webhooks/src/config/webhooks-config.js';
import { gatewayEnvSchema } from '../../services/gateway/src/config/gateway-config.js';
import { natsConfLogins } from '../support/nats-conf.js';

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
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

// The NATS login of each container (deploy/compose/nats.conf, deploy/nats/values.yaml).
const NATS_USERS: Record<string, string> = { gateway: 'signal-gateway', 'emit-api': 'signal-emit-api', webhooks: 'signal-webhooks' };

// Which service's configuration each container runs.
const SCHEMAS: Record<string, z.ZodObject> = { gateway: gatewayEnvSchema, 'emit-api': emitEnvSchema, webhooks: webhooksEnvSchema };

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
  for (const { name, value, valueFrom } of container.env ?? []) {
    // A Secret's value is unknown here: a stand-in that names it, for the schema to parse.
    const ref = valueFrom?.secretKeyRef;
    const fromMap = valueFrom?.configMapKeyRef;
    if (fromMap) {
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === fromMap.name);
      expect(cm?.data?.[fromMap.key], `ConfigMap ${fromMap.name} key ${fromMap.key} referenced by ${container.name}`).toBeDefined();
      env[name] = cm.data[fromMap.key];
    } else env[name] = ref ? `secret-${ref.name}-${ref.key}` : value;
  }
  return env;
}

/** Where a container's variable comes from when it is a Secret: `{ name, key }`. */
function secretOf(container: Obj, variable: string): { name: string; key: string } | undefined {
  return container.env?.find((e: Obj) => e.name === variable)?.valueFrom?.secretKeyRef;
}

describe.each(['base', 'overlays/production'])('deploy/%s', (dir) => {
  const objects = render(dir);
  const deployments = objects.filter((o) => o.kind === 'Deployment');

  it('renders, and every object satisfies its Kubernetes schema', () => {
    expect(deployments.map((d) => d.spec.template.spec.containers[0].name).sort()).toEqual(['emit-api', 'gateway', 'webhooks']);
    for (const object of objects) {
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      expect(Model, `no schema known for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it.each(['gateway', 'emit-api', 'webhooks'])('%s: configuration parses with the service’s own schema, probes hit the admin port, shutdown fits the grace period', (name) => {
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
    // The webhooks dispatcher serves only its admin port.
    if (name !== 'webhooks') expect(container.ports.some((p: Obj) => p.name !== 'admin' && p.containerPort === config.PORT)).toBe(true);
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

    // NATS: a login of its own, the password only from a Secret.
    expect(config.NATS_USER).toBe(NATS_USERS[name]);
    expect(secretOf(container, 'NATS_PASSWORD')).toMatchObject({ name: 'signal-nats' });
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

describe('deploy/nats: NATS takes only our services, each with its own permissions', () => {
  const values: Obj = parse(readFileSync(`${deployDir}nats/values.yaml`, 'utf8'));
  const policies: Obj[] = parseAllDocuments(readFileSync(`${deployDir}nats/network-policy.yaml`, 'utf8')).map((d) => d.toJS());
  const logins = natsConfLogins();
  const objects = render('overlays/production');
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const users: Obj[] = values.config.merge.authorization.users;
  // Labels the NATS chart 1.x puts on the server pods of a release named `nats` (nats-box has another component).
  const natsPodLabels = { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats', 'app.kubernetes.io/component': 'nats' };
  const passwordVariable = (user: Obj) => /^<< \$(\w+) >>$/.exec(String(user.password))?.[1];

  it('the Helm values turn authorization on with the users and permissions of deploy/compose/nats.conf, passwords from a Secret', () => {
    expect(users.map((u) => u.user)).toEqual(logins.map((l) => l.user));
    for (const login of logins) {
      const user = users.find((u) => u.user === login.user);
      expect(user.permissions.publish.allow, `${login.user} publish`).toEqual(login.publish);
      expect(user.permissions.subscribe.allow, `${login.user} subscribe`).toEqual(login.subscribe);
      expect(user.permissions.allow_responses ?? false, `${login.user} allow_responses`).toBe(login.allowResponses);
      expect(Object.keys(user.permissions).sort()).toEqual(login.allowResponses ? ['allow_responses', 'publish', 'subscribe'] : ['publish', 'subscribe']);
      const variable = passwordVariable(user);
      expect(variable, `${login.user} password`).toBeDefined();
      expect(values.container.env[variable!].valueFrom.secretKeyRef).toMatchObject({ name: 'signal-nats', key: expect.any(String) });
    }
  });

  it.each(['gateway', 'emit-api', 'webhooks'])('%s: logs in as its NATS user with the password NATS reads from the same Secret key', (name) => {
    const container = deployments.find((d) => d.spec.template.spec.containers[0].name === name).spec.template.spec.containers[0];
    const env = envOf(container, objects);
    const user = users.find((u) => u.user === env.NATS_USER);
    expect(user, `NATS_USER=${env.NATS_USER} is not a user in deploy/nats/values.yaml`).toBeDefined();
    expect(secretOf(container, 'NATS_PASSWORD')).toEqual(values.container.env[passwordVariable(user)!].valueFrom.secretKeyRef);
    for (const variable of ['NATS_PASSWORD', 'NATS_TOKEN']) expect(container.env.find((e: Obj) => e.name === variable)?.value, variable).toBeUndefined();
  });

  it('a NetworkPolicy admits to the client port only the gateway, emit-api and webhooks pods, and to the route port only the NATS servers', () => {
    expect(policies).toHaveLength(1);
    const policy = policies[0];
    expect(() => new NetworkPolicy(policy as never).validate()).not.toThrow();
    expect(matches(policy.spec.podSelector.matchLabels, natsPodLabels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const namespace = objects.find((o) => o.kind === 'Namespace').metadata.name;
    const peersByPort = new Map<number, Obj[]>();
    for (const rule of policy.spec.ingress) {
      expect(rule.ports, 'a rule without ports opens every port').toBeDefined();
      expect(rule.from, 'a rule without from admits everyone').toBeDefined();
      for (const port of rule.ports) peersByPort.set(port.port, [...(peersByPort.get(port.port) ?? []), ...rule.from]);
    }
    expect([...peersByPort.keys()].sort()).toEqual([4222, 6222]);
    const admitted = peersByPort.get(4222)!.map((peer) => {
      expect(peer.ipBlock).toBeUndefined();
      expect(peer.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': namespace });
      const selected = deployments.filter((d) => matches(peer.podSelector?.matchLabels ?? {}, d.spec.template.metadata.labels));
      expect(selected, JSON.stringify(peer)).toHaveLength(1);
      return selected[0].metadata.name as string;
    });
    expect(admitted.sort()).toEqual(deployments.map((d) => d.metadata.name).sort());
    for (const peer of peersByPort.get(6222)!) {
      expect(peer.namespaceSelector).toBeUndefined();
      expect(peer.ipBlock).toBeUndefined();
      expect(peer.podSelector.matchLabels).toEqual(policy.spec.podSelector.matchLabels);
    }
  });
});
