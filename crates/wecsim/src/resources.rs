//! The resource catalog: which kinds a simulated cluster serves, under which group, version and
//! plural. Built-ins are shared by every cluster; CRDs add per-cluster entries.

use serde_json::Value;
use std::sync::Arc;

/// One served resource (one group/plural, possibly under several versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group, empty for the core group.
    pub group: String,
    /// Served versions, preferred (storage) first.
    pub versions: Vec<String>,
    /// Lower-case plural, the URL segment.
    pub plural: String,
    /// Lower-case singular.
    pub singular: String,
    /// The kind.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// kubectl categories, e.g. `all`.
    pub categories: Vec<String>,
    /// Whether `status` is a separate subresource (then the main resource ignores status writes).
    pub status_subresource: bool,
    /// A CRD's `additionalPrinterColumns` (of its storage version): name, type, JSONPath.
    pub printer_columns: Vec<(String, String, String)>,
}

impl ResourceDef {
    /// The key objects of this resource are stored under: `group/plural`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// `apiVersion` for a given version.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// `group` for messages and `details`, as in `deployments.apps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Reads the resource a `CustomResourceDefinition` object defines, if well formed.
    pub fn from_crd(crd: &Value) -> Option<ResourceDef> {
        let spec = crd.get("spec")?;
        let names = spec.get("names")?;
        let strs = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let plural = names.get("plural")?.as_str()?.to_string();
        let kind = names.get("kind")?.as_str()?.to_string();
        let mut versions = Vec::new();
        let mut status_subresource = false;
        let mut storage_first = None;
        let mut printer_columns = Vec::new();
        for v in spec.get("versions")?.as_array()? {
            let name = v.get("name")?.as_str()?.to_string();
            if v.get("served").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            if v.pointer("/subresources/status").is_some() {
                status_subresource = true;
            }
            if v.get("storage").and_then(Value::as_bool) == Some(true) {
                storage_first = Some(name.clone());
                printer_columns = v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
                        Some((
                            s("name")?,
                            s("type").unwrap_or_else(|| "string".into()),
                            s("jsonPath")?,
                        ))
                    })
                    .collect();
            }
            versions.push(name);
        }
        if let Some(storage) = storage_first {
            versions.retain(|v| v != &storage);
            versions.insert(0, storage);
        }
        if versions.is_empty() {
            return None;
        }
        Some(ResourceDef {
            group: spec.get("group")?.as_str()?.to_string(),
            versions,
            singular: names
                .get("singular")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_lowercase()),
            plural,
            kind,
            namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
            short_names: strs(names.get("shortNames")),
            categories: strs(names.get("categories")),
            status_subresource,
            printer_columns,
        })
    }
}

/// The built-in resources every simulated cluster serves.
pub fn builtins() -> Arc<Vec<Arc<ResourceDef>>> {
    // (group, version, plural, kind, namespaced, short names, status subresource, in "all")
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        bool,
        &'static [&'static str],
        bool,
        bool,
    );
    const TABLE: &[Row] = &[
        (
            "",
            "v1",
            "namespaces",
            "Namespace",
            false,
            &["ns"],
            true,
            false,
        ),
        (
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            true,
            &["cm"],
            false,
            false,
        ),
        ("", "v1", "secrets", "Secret", true, &[], false, false),
        ("", "v1", "services", "Service", true, &["svc"], true, true),
        (
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            true,
            &["sa"],
            false,
            false,
        ),
        ("", "v1", "pods", "Pod", true, &["po"], true, true),
        (
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            &["pvc"],
            true,
            false,
        ),
        ("", "v1", "events", "Event", true, &["ev"], false, false),
        (
            "",
            "v1",
            "endpoints",
            "Endpoints",
            true,
            &["ep"],
            false,
            false,
        ),
        (
            "",
            "v1",
            "limitranges",
            "LimitRange",
            true,
            &["limits"],
            false,
            false,
        ),
        (
            "",
            "v1",
            "resourcequotas",
            "ResourceQuota",
            true,
            &["quota"],
            true,
            false,
        ),
        (
            "",
            "v1",
            "persistentvolumes",
            "PersistentVolume",
            false,
            &["pv"],
            true,
            false,
        ),
        (
            "apiregistration.k8s.io",
            "v1",
            "apiservices",
            "APIService",
            false,
            &[],
            true,
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "mutatingwebhookconfigurations",
            "MutatingWebhookConfiguration",
            false,
            &[],
            false,
            false,
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            &[],
            false,
            false,
        ),
        (
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
            &[],
            false,
            false,
        ),
        (
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            false,
            &[],
            false,
            false,
        ),
        (
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            false,
            &["pc"],
            false,
            false,
        ),
        (
            "storage.k8s.io",
            "v1",
            "storageclasses",
            "StorageClass",
            false,
            &["sc"],
            false,
            false,
        ),
        ("", "v1", "nodes", "Node", false, &["no"], true, false),
        (
            "apps",
            "v1",
            "deployments",
            "Deployment",
            true,
            &["deploy"],
            true,
            true,
        ),
        (
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            true,
            &["rs"],
            true,
            true,
        ),
        (
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            true,
            &["sts"],
            true,
            true,
        ),
        (
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            true,
            &["ds"],
            true,
            true,
        ),
        ("batch", "v1", "jobs", "Job", true, &[], true, true),
        (
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            true,
            &["cj"],
            true,
            true,
        ),
        (
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
            true,
            true,
        ),
        (
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            &["pdb"],
            true,
            false,
        ),
        (
            "networking.k8s.io",
            "v1",
            "ingresses",
            "Ingress",
            true,
            &["ing"],
            true,
            false,
        ),
        (
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            &["netpol"],
            false,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            &[],
            false,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            &[],
            false,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            &[],
            false,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            false,
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            &["crd", "crds"],
            true,
            false,
        ),
        (
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            true,
            &[],
            false,
            false,
        ),
        // kube-rs' event recorder writes these.
        (
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            true,
            &["ev"],
            false,
            false,
        ),
    ];
    Arc::new(
        TABLE
            .iter()
            .map(
                |&(group, version, plural, kind, namespaced, short, status, all)| {
                    Arc::new(ResourceDef {
                        group: group.to_string(),
                        versions: vec![version.to_string()],
                        plural: plural.to_string(),
                        singular: kind.to_lowercase(),
                        kind: kind.to_string(),
                        namespaced,
                        short_names: short.iter().map(|s| s.to_string()).collect(),
                        categories: if all {
                            vec!["all".to_string()]
                        } else {
                            Vec::new()
                        },
                        status_subresource: status,
                        printer_columns: Vec::new(),
                    })
                },
            )
            .collect(),
    )
}

/// The groups in the order discovery lists them (core first, then built-ins, then CRD groups).
pub fn group_order(defs: &[Arc<ResourceDef>]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for def in defs {
        match groups.iter_mut().find(|(g, _)| g == &def.group) {
            Some((_, versions)) => {
                for v in &def.versions {
                    if !versions.contains(v) {
                        versions.push(v.clone());
                    }
                }
            }
            None => groups.push((def.group.clone(), def.versions.clone())),
        }
    }
    groups
}
