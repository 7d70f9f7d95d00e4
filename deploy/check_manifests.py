#!/usr/bin/env python3
"""Checks a rendered fanout kustomization for what the Kubernetes schemas cannot see.

    check_manifests.py RENDERED.yaml NAME

Run by deploy/validate.sh on `kustomize build` output. NAME is what is being checked
(deploy/kubernetes/base: also that no namespace is set). Exits 1 listing every problem.
"""

import sys
import tomllib

import yaml

UID = 10001
POD_INDEX = "apps.kubernetes.io/pod-index"
PROBLEMS = []


def problem(message):
    PROBLEMS.append(message)


def labels_match(selector, labels):
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def component(doc):
    template = doc.get("spec", {}).get("template", {})
    return template.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def pod_templates(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]
        elif doc["kind"] == "Pod":
            yield f"Pod/{doc['metadata']['name']}", doc


def check_security(name, template):
    spec = template["spec"]
    pod = spec.get("securityContext", {})
    if pod.get("runAsNonRoot") is not True:
        problem(f"{name}: securityContext.runAsNonRoot is not true")
    if pod.get("runAsUser") != UID or pod.get("runAsGroup") != UID:
        problem(f"{name}: securityContext.runAsUser/runAsGroup are not {UID} (the image's user)")
    if pod.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(f"{name}: securityContext.seccompProfile.type is not RuntimeDefault")
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        where = f"{name} container {container['name']}"
        context = container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            problem(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("readOnlyRootFilesystem") is not True:
            problem(f"{where}: readOnlyRootFilesystem is not true")
        if context.get("capabilities", {}).get("drop") != ["ALL"]:
            problem(f"{where}: capabilities.drop is not [ALL]")
        if "resources" not in container or not container["resources"].get("limits"):
            problem(f"{where}: no resource requests and limits")


def check_scrape(name, template):
    annotations = template.get("metadata", {}).get("annotations", {})
    scrape = annotations.get("prometheus.io/scrape")
    if scrape not in ("true", "false"):
        problem(f"{name}: no prometheus.io/scrape annotation (\"true\", or \"false\" for pods without metrics)")
    if scrape == "true":
        ports = {
            str(port["containerPort"])
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        }
        if annotations.get("prometheus.io/port") not in ports:
            problem(f"{name}: prometheus.io/port {annotations.get('prometheus.io/port')!r} is not a container port {sorted(ports)}")
        if annotations.get("prometheus.io/path") != "/metrics":
            problem(f"{name}: prometheus.io/path is not /metrics")


def env_of(container, configmaps):
    """The container's environment: env values and envFrom ConfigMaps."""
    env = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        env.update(configmaps.get(ref, {}).get("data", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    return env


def check_spread(leaf, shards):
    """One hard constraint per shard s over exactly the ordinals s, s+S, s+2S, ..."""
    replicas = leaf["spec"].get("replicas", 1)
    constraints = leaf["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
    per_shard = {}
    for constraint in constraints:
        expressions = constraint.get("labelSelector", {}).get("matchExpressions", [])
        ordinals = [e for e in expressions if e.get("key") == POD_INDEX and e.get("operator") == "In"]
        if not ordinals:
            continue
        if constraint.get("whenUnsatisfiable") != "DoNotSchedule" or constraint.get("maxSkew") != 1:
            problem(f"StatefulSet/{leaf['metadata']['name']}: a per-shard spread constraint is not maxSkew 1, DoNotSchedule")
        values = sorted(int(v) for v in ordinals[0]["values"])
        shard = values[0] % shards
        expected = [shard + k * shards for k in range(len(values))]
        if values != expected:
            problem(
                f"StatefulSet/{leaf['metadata']['name']}: a spread constraint lists ordinals {values}, "
                f"not shard {shard}'s {expected} (ordinal mod {shards} shards)"
            )
        if shard in per_shard:
            problem(f"StatefulSet/{leaf['metadata']['name']}: two spread constraints for shard {shard}")
        per_shard[shard] = values
    missing = [s for s in range(shards) if s not in per_shard]
    if missing:
        problem(
            f"StatefulSet/{leaf['metadata']['name']}: no spread constraint for shards {missing} of {shards} "
            "(one per shard over its ordinals; see leaf-statefulset.yaml)"
        )
        return
    covered = min(len(values) for values in per_shard.values()) * shards
    if covered < replicas:
        problem(
            f"StatefulSet/{leaf['metadata']['name']}: the spread constraints cover ordinals below {covered}, "
            f"but there are {replicas} replicas: list more ordinals per shard"
        )


def main():
    rendered, name = sys.argv[1], sys.argv[2]
    with open(rendered) as file:
        docs = [doc for doc in yaml.safe_load_all(file) if doc]

    if name.rstrip("/").endswith("/base"):
        for doc in docs:
            if "namespace" in doc["metadata"]:
                problem(f"{doc['kind']}/{doc['metadata']['name']}: the base sets a namespace (overlays do)")

    configmaps = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "ConfigMap"}
    services = [doc for doc in docs if doc["kind"] == "Service"]

    for where, template in pod_templates(docs):
        check_security(where, template)
        check_scrape(where, template)

    images = {
        container["image"]
        for doc in docs
        if doc["kind"] in ("Deployment", "StatefulSet", "Job")
        for container in doc["spec"]["template"]["spec"].get("initContainers", [])
        + doc["spec"]["template"]["spec"]["containers"]
    }
    if len(images) != 1:
        problem(f"the roles run different images {sorted(images)}: one image runs every role")

    def one(kind, role):
        found = [doc for doc in docs if doc["kind"] == kind and component(doc) == role]
        if len(found) != 1:
            problem(f"expected one {kind} of component {role}, found {len(found)}")
            return None
        return found[0]

    leaf, root, indexer = one("StatefulSet", "leaf"), one("Deployment", "root"), one("Job", "indexer")
    if not (leaf and root and indexer):
        return

    # The indexer's parameters.
    index_env = env_of(indexer["spec"]["template"]["spec"]["containers"][0], configmaps)
    index_shards = int(index_env.get("FANOUT_SHARDS", "4"))  # fanout index's default
    index_name = index_env.get("FANOUT_INDEX_NAME")
    if not index_name:
        problem("Job/fanout-indexer: no FANOUT_INDEX_NAME (the name would default to the output directory's, \"index\")")

    # The root's cluster file: the ConfigMap its pods mount, at the path its args name.
    root_spec = root["spec"]["template"]["spec"]
    container = root_spec["containers"][0]
    args = container.get("args", [])
    if "--cluster" not in args:
        problem("Deployment/fanout-root: no --cluster argument")
        return
    cluster_path = args[args.index("--cluster") + 1]
    cluster = None
    for mount in container.get("volumeMounts", []):
        if cluster_path.startswith(mount["mountPath"].rstrip("/") + "/"):
            volume = next(v for v in root_spec["volumes"] if v["name"] == mount["name"])
            configmap = configmaps.get(volume.get("configMap", {}).get("name"), {})
            text = configmap.get("data", {}).get(cluster_path[len(mount["mountPath"].rstrip("/")) + 1 :])
            if text is not None:
                cluster = tomllib.loads(text)
    if cluster is None:
        problem(f"Deployment/fanout-root: {cluster_path} is not in a mounted ConfigMap")
        return
    root_env = env_of(container, configmaps)
    for overriding in ("FANOUT_SHARDS", "FANOUT_INDEX_NAME", "FANOUT_DISCOVER", "FANOUT_CLUSTER"):
        if overriding in root_env:
            problem(f"Deployment/fanout-root: {overriding} in its environment overrides the cluster file")

    shards = cluster.get("shards", len(cluster.get("shard", [])))
    if not isinstance(shards, int) or shards < 1:
        problem(f"cluster.toml shards = {shards!r}: not a positive shard count")
        return
    if shards != index_shards:
        problem(f"cluster.toml shards = {shards}, but the indexer builds {index_shards} shards (FANOUT_SHARDS)")
    if cluster.get("index") != index_name:
        problem(f"cluster.toml index = {cluster.get('index')!r}, but the indexer names it {index_name!r} (FANOUT_INDEX_NAME)")

    # Discovery: the headless Service of the leaves, on their gRPC port.
    discovery = cluster.get("discovery")
    pod_labels = leaf["spec"]["template"]["metadata"]["labels"]
    headless = [s for s in services if s["spec"].get("clusterIP") == "None" and labels_match(s["spec"].get("selector"), pod_labels)]
    if len(headless) != 1:
        problem(f"expected one headless Service selecting the leaves, found {len(headless)}")
    elif discovery is None:
        problem("cluster.toml has no [discovery] section")
    else:
        service = headless[0]
        if discovery.get("name") != service["metadata"]["name"]:
            problem(f"cluster.toml [discovery] name = {discovery.get('name')!r}, but the leaves' headless Service is {service['metadata']['name']!r}")
        if leaf["spec"].get("serviceName") != service["metadata"]["name"]:
            problem(f"StatefulSet serviceName {leaf['spec'].get('serviceName')!r} is not the headless Service {service['metadata']['name']!r}")
        if service["spec"].get("publishNotReadyAddresses", False):
            problem("the leaves' headless Service publishes unready addresses")
        ports = [p["port"] for p in service["spec"]["ports"]]
        leaf_ports = [p["containerPort"] for c in leaf["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
        if discovery.get("port") not in ports or discovery.get("port") not in leaf_ports:
            problem(f"cluster.toml [discovery] port {discovery.get('port')} is not the Service's {ports} and the leaves' {leaf_ports}")

    # The leaves: shards x replicas per shard, each taking its shard from its ordinal.
    replicas = leaf["spec"].get("replicas", 1)
    if replicas < shards or replicas % shards:
        problem(f"StatefulSet/fanout-leaf replicas = {replicas}: not a multiple of the {shards} shards (shards x replicas per shard)")
    leaf_args = leaf["spec"]["template"]["spec"]["containers"][0].get("args", [])
    if "--shard-from-ordinal" not in leaf_args:
        problem("StatefulSet/fanout-leaf: the leaves do not take their shard from the ordinal (--shard-from-ordinal)")
    if leaf["spec"].get("podManagementPolicy") != "Parallel":
        problem("StatefulSet/fanout-leaf: podManagementPolicy is not Parallel")
    check_spread(leaf, shards)

    if not PROBLEMS:
        print(
            f"   {shards} shards x {replicas // shards} replicas per shard = {replicas} leaves, "
            f"index {index_name!r}, discovery {discovery['name']}:{discovery['port']}"
        )


main()
if PROBLEMS:
    for message in PROBLEMS:
        print(f"   problem: {message}", file=sys.stderr)
    sys.exit(1)
