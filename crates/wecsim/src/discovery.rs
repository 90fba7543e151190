//! Discovery documents: `/version`, `/api`, `/apis`, group and group/version resource lists, and
//! a minimal OpenAPI v3 index that tells kubectl the server validates fields itself.

use super::resources::{ResourceDef, group_order};
use super::store::Cluster;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIResource, GroupVersionForDiscovery,
};
use serde_json::{Value, json};
use std::sync::Arc;

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-wecsim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_doc(group: &str, versions: &[String]) -> APIGroup {
    let gv = |v: &String| GroupVersionForDiscovery {
        group_version: format!("{group}/{v}"),
        version: v.clone(),
    };
    APIGroup {
        name: group.to_string(),
        preferred_version: versions.first().map(gv),
        server_address_by_client_cidrs: None,
        versions: versions.iter().map(gv).collect(),
    }
}

/// `/apis`.
pub fn groups(cluster: &Cluster) -> Value {
    let groups: Vec<Value> = group_order(&cluster.resources())
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| serde_json::to_value(group_doc(&g, &vs)).unwrap_or(Value::Null))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(cluster: &Cluster, group: &str) -> Option<Value> {
    let (g, vs) = group_order(&cluster.resources())
        .into_iter()
        .find(|(g, _)| g == group)?;
    let mut doc = serde_json::to_value(group_doc(&g, &vs)).ok()?;
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

fn resource_doc(def: &ResourceDef) -> APIResource {
    APIResource {
        name: def.plural.clone(),
        singular_name: def.singular.clone(),
        namespaced: def.namespaced,
        kind: def.kind.clone(),
        verbs: VERBS.iter().map(|s| s.to_string()).collect(),
        short_names: (!def.short_names.is_empty()).then(|| def.short_names.clone()),
        categories: (!def.categories.is_empty()).then(|| def.categories.clone()),
        group: None,
        version: None,
        storage_version_hash: None,
    }
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resources(cluster: &Cluster, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<Arc<ResourceDef>> = cluster
        .resources()
        .into_iter()
        .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for def in &defs {
        list.push(serde_json::to_value(resource_doc(def)).ok()?);
        if def.status_subresource {
            let mut status = resource_doc(def);
            status.name = format!("{}/status", def.plural);
            status.singular_name = String::new();
            status.verbs = vec!["get".into(), "patch".into(), "update".into()];
            status.short_names = None;
            status.categories = None;
            list.push(serde_json::to_value(status).ok()?);
        }
        if super::scale::supported(def) {
            let mut scale = resource_doc(def);
            scale.name = format!("{}/scale", def.plural);
            scale.singular_name = String::new();
            scale.kind = "Scale".into();
            scale.group = Some("autoscaling".into());
            scale.version = Some("v1".into());
            scale.verbs = vec!["get".into(), "patch".into(), "update".into()];
            scale.short_names = None;
            scale.categories = None;
            list.push(serde_json::to_value(scale).ok()?);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_index(cluster: &Cluster, prefix: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for (g, vs) in group_order(&cluster.resources()) {
        for v in vs {
            let p = gv_path(&g, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("{prefix}/openapi/v3/{p}?hash=wecsim")}),
            );
        }
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api/v1 | apis/g/v>`: paths with the operations and query parameters clients
/// probe for (`fieldValidation`, `fieldManager`, `dryRun`); schemas are left open, since the
/// simulator does not validate types.
pub fn openapi_group_version(cluster: &Cluster, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<Arc<ResourceDef>> = cluster
        .resources()
        .into_iter()
        .filter(|d| d.group == group && d.versions.iter().any(|v| v == version))
        .collect();
    if defs.is_empty() {
        return None;
    }
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
    ]);
    let base = gv_path(group, version);
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for def in defs {
        let gvk = json!([{"group": group, "version": version, "kind": def.kind}]);
        let schema_name = format!(
            "{}.{}.{}",
            if group.is_empty() {
                "io.k8s.api.core"
            } else {
                group
            },
            version,
            def.kind
        );
        let op = |action: &str| {
            json!({
                "parameters": params,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk[0],
                "responses": {"200": {"description": "OK"}},
            })
        };
        let item = if def.namespaced {
            format!("/{base}/namespaces/{{namespace}}/{}/{{name}}", def.plural)
        } else {
            format!("/{base}/{}/{{name}}", def.plural)
        };
        let collection = item.trim_end_matches("/{name}").to_string();
        paths.insert(
            item,
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        paths.insert(collection, json!({"get": op("list"), "post": op("post")}));
        schemas.insert(
            schema_name,
            json!({
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "x-kubernetes-group-version-kind": gvk,
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (wecsim)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

/// `/openapi/v2` as JSON: an empty Swagger 2.0 document. Clients that validate on their side
/// (kubectl before 1.27) skip kinds the document does not describe.
pub fn openapi_v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes (wecsim)", "version": "v1.33.0"},
        "paths": {},
        "definitions": {},
    })
}

/// The content type of aggregated discovery (`apidiscovery.k8s.io/v2`).
pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether the Accept header takes aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|a| {
        let a = a.replace(' ', "");
        a.contains("as=APIGroupDiscoveryList") && a.contains("v=v2") && !a.contains("v=v2beta1")
    })
}

/// `/api` (core) or `/apis` (every other group) as an `APIGroupDiscoveryList`: groups, versions
/// and resources in one document, which current kubectl and kube-rs prefer.
pub fn aggregated(cluster: &Cluster, core: bool) -> Value {
    use kube::core::discovery::v2::{
        APIGroupDiscovery, APIGroupDiscoveryList, APIResourceDiscovery, APISubresourceDiscovery,
        APIVersionDiscovery, GroupVersionKind,
    };
    let defs = cluster.resources();
    let gvk = |g: &str, v: &str, k: &str| GroupVersionKind {
        group: Some(g.to_string()),
        version: Some(v.to_string()),
        kind: Some(k.to_string()),
    };
    let items = group_order(&defs)
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(group, versions)| APIGroupDiscovery {
            metadata: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(group.clone()),
                ..Default::default()
            }),
            versions: versions
                .iter()
                .map(|version| APIVersionDiscovery {
                    version: Some(version.clone()),
                    freshness: Some("Current".into()),
                    resources: defs
                        .iter()
                        .filter(|d| d.group == group && d.versions.contains(version))
                        .map(|d| {
                            let mut subresources = Vec::new();
                            if d.status_subresource {
                                subresources.push(APISubresourceDiscovery {
                                    subresource: Some("status".into()),
                                    response_kind: Some(gvk(&group, version, &d.kind)),
                                    accepted_types: Vec::new(),
                                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                                });
                            }
                            if super::scale::supported(d) {
                                subresources.push(APISubresourceDiscovery {
                                    subresource: Some("scale".into()),
                                    response_kind: Some(gvk("autoscaling", "v1", "Scale")),
                                    accepted_types: Vec::new(),
                                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                                });
                            }
                            APIResourceDiscovery {
                                resource: Some(d.plural.clone()),
                                response_kind: Some(gvk(&group, version, &d.kind)),
                                scope: Some(
                                    if d.namespaced {
                                        "Namespaced"
                                    } else {
                                        "Cluster"
                                    }
                                    .into(),
                                ),
                                singular_resource: Some(d.singular.clone()),
                                verbs: VERBS.iter().map(|s| s.to_string()).collect(),
                                short_names: d.short_names.clone(),
                                categories: d.categories.clone(),
                                subresources,
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let list = APIGroupDiscoveryList {
        metadata: None,
        items,
    };
    let mut doc = serde_json::to_value(list).unwrap_or(json!({"items": []}));
    doc["kind"] = json!("APIGroupDiscoveryList");
    doc["apiVersion"] = json!("apidiscovery.k8s.io/v2");
    doc
}
