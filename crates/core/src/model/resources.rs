//! Kind ↔ resource mapping without an API server (design §2): a built-in table of the Kubernetes
//! kinds, the CustomResourceDefinitions found in the WDSes, and `resourceMappings` in
//! `gitstellar.yaml` (which win over both).

use std::collections::BTreeMap;

use serde::Serialize;

/// What the API server's discovery would say of one kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ResourceInfo {
    /// API group (`""` for core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Lowercase plural resource name.
    pub resource: String,
    /// Whether objects of this kind live in a namespace.
    pub namespaced: bool,
}

/// (group, kind, plural, namespaced) of the Kubernetes kinds a workload uses, as discovery reports them.
const BUILTIN: &[(&str, &str, &str, bool)] = &[
    ("", "Binding", "bindings", true),
    ("", "ComponentStatus", "componentstatuses", false),
    ("", "ConfigMap", "configmaps", true),
    ("", "Endpoints", "endpoints", true),
    ("", "Event", "events", true),
    ("", "LimitRange", "limitranges", true),
    ("", "Namespace", "namespaces", false),
    ("", "Node", "nodes", false),
    ("", "PersistentVolume", "persistentvolumes", false),
    ("", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "Pod", "pods", true),
    ("", "PodTemplate", "podtemplates", true),
    ("", "ReplicationController", "replicationcontrollers", true),
    ("", "ResourceQuota", "resourcequotas", true),
    ("", "Secret", "secrets", true),
    ("", "Service", "services", true),
    ("", "ServiceAccount", "serviceaccounts", true),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    ("apiregistration.k8s.io", "APIService", "apiservices", false),
    ("apps", "ControllerRevision", "controllerrevisions", true),
    ("apps", "DaemonSet", "daemonsets", true),
    ("apps", "Deployment", "deployments", true),
    ("apps", "ReplicaSet", "replicasets", true),
    ("apps", "StatefulSet", "statefulsets", true),
    (
        "autoscaling",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    ("batch", "CronJob", "cronjobs", true),
    ("batch", "Job", "jobs", true),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        false,
    ),
    ("coordination.k8s.io", "Lease", "leases", true),
    ("discovery.k8s.io", "EndpointSlice", "endpointslices", true),
    ("events.k8s.io", "Event", "events", true),
    (
        "flowcontrol.apiserver.k8s.io",
        "FlowSchema",
        "flowschemas",
        false,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        false,
    ),
    ("networking.k8s.io", "Ingress", "ingresses", true),
    ("networking.k8s.io", "IngressClass", "ingressclasses", false),
    (
        "networking.k8s.io",
        "NetworkPolicy",
        "networkpolicies",
        true,
    ),
    ("node.k8s.io", "RuntimeClass", "runtimeclasses", false),
    (
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    ("rbac.authorization.k8s.io", "Role", "roles", true),
    (
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        true,
    ),
    (
        "scheduling.k8s.io",
        "PriorityClass",
        "priorityclasses",
        false,
    ),
    ("storage.k8s.io", "CSIDriver", "csidrivers", false),
    ("storage.k8s.io", "CSINode", "csinodes", false),
    (
        "storage.k8s.io",
        "CSIStorageCapacity",
        "csistoragecapacities",
        true,
    ),
    ("storage.k8s.io", "StorageClass", "storageclasses", false),
    (
        "storage.k8s.io",
        "VolumeAttachment",
        "volumeattachments",
        false,
    ),
    // KubeStellar's own kinds, so that tests naming their resources (and plan's explanations) work.
    ("edge.kubestellar.io", "Customizer", "customizers", true),
    (
        "edge.kubestellar.io",
        "EdgePlacement",
        "edgeplacements",
        false,
    ),
    (
        "edge.kubestellar.io",
        "EdgeSyncConfig",
        "edgesyncconfigs",
        false,
    ),
    ("edge.kubestellar.io", "Location", "locations", false),
    (
        "edge.kubestellar.io",
        "SinglePlacementSlice",
        "singleplacementslices",
        false,
    ),
    (
        "edge.kubestellar.io",
        "SyncerConfig",
        "syncerconfigs",
        false,
    ),
    ("edge.kubestellar.io", "SyncTarget", "synctargets", false),
];

/// The mapping in force for one revision, keyed by (group, kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTable {
    by_kind: BTreeMap<(String, String), ResourceInfo>,
}

impl Default for ResourceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ResourceTable {
    /// The built-in Kubernetes kinds only.
    pub fn builtin() -> Self {
        let by_kind = BUILTIN
            .iter()
            .map(|&(group, kind, resource, namespaced)| {
                let info = ResourceInfo {
                    group: group.into(),
                    kind: kind.into(),
                    resource: resource.into(),
                    namespaced,
                };
                ((group.to_string(), kind.to_string()), info)
            })
            .collect();
        ResourceTable { by_kind }
    }

    /// Adds or replaces the mapping of one kind.
    pub fn insert(&mut self, info: ResourceInfo) {
        self.by_kind
            .insert((info.group.clone(), info.kind.clone()), info);
    }

    /// The mapping of `kind` in `group`, if known.
    pub fn get(&self, group: &str, kind: &str) -> Option<&ResourceInfo> {
        // Looking up by borrowed tuple would need a custom Borrow; kinds are few, so a range scan
        // on the group prefix keeps this allocation-free.
        self.by_kind
            .range((group.to_string(), String::new())..)
            .take_while(|((g, _), _)| g == group)
            .find(|((_, k), _)| k == kind)
            .map(|(_, info)| info)
    }

    /// The mapping of `resource` in `group`, if known.
    pub fn by_resource(&self, group: &str, resource: &str) -> Option<&ResourceInfo> {
        self.by_kind
            .values()
            .find(|i| i.group == group && i.resource == resource)
    }

    /// Every known mapping, sorted by group and kind.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.by_kind.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_map_to_their_plurals() {
        let t = ResourceTable::builtin();
        assert_eq!(
            t.get("apps", "ReplicaSet").map(|i| i.resource.as_str()),
            Some("replicasets")
        );
        assert_eq!(t.get("", "ConfigMap").map(|i| i.namespaced), Some(true));
        assert_eq!(t.get("", "Namespace").map(|i| i.namespaced), Some(false));
        assert!(t.get("apps", "ConfigMap").is_none());
        assert!(t.get("", "Deployment").is_none());
    }

    #[test]
    fn inserted_mappings_win() {
        let mut t = ResourceTable::builtin();
        t.insert(ResourceInfo {
            group: "stable.example.com".into(),
            kind: "CronTab".into(),
            resource: "crontabs".into(),
            namespaced: true,
        });
        assert_eq!(
            t.by_resource("stable.example.com", "crontabs")
                .map(|i| i.kind.as_str()),
            Some("CronTab")
        );
    }
}
