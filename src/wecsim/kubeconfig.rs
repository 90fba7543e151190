//! The kubeconfig the simulator writes: one cluster, user and context per simulated cluster,
//! each context named after its cluster.

use super::error::WecsimError;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};

/// A kubeconfig for `(name, server URL)` pairs; the first is the current context.
pub fn build(servers: &[(String, String)]) -> Kubeconfig {
    Kubeconfig {
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        current_context: servers.first().map(|(n, _)| n.clone()),
        clusters: servers
            .iter()
            .map(|(name, server)| NamedCluster {
                name: name.clone(),
                cluster: Some(Cluster {
                    server: Some(server.clone()),
                    ..Default::default()
                }),
                other: Default::default(),
            })
            .collect(),
        auth_infos: servers
            .iter()
            .map(|(name, _)| NamedAuthInfo {
                name: name.clone(),
                auth_info: Some(AuthInfo::default()),
                other: Default::default(),
            })
            .collect(),
        contexts: servers
            .iter()
            .map(|(name, _)| NamedContext {
                name: name.clone(),
                context: Some(Context {
                    cluster: name.clone(),
                    user: Some(name.clone()),
                    namespace: Some("default".into()),
                    ..Default::default()
                }),
                other: Default::default(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Renders a kubeconfig as YAML.
pub fn to_yaml(config: &Kubeconfig) -> Result<String, WecsimError> {
    serde_saphyr::to_string(config).map_err(|e| WecsimError::Yaml(e.to_string()))
}
