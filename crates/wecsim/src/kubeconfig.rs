//! The kubeconfig the simulator writes: one cluster, user and context per simulated cluster,
//! each context named after its cluster; rewritten whole when clusters are added or removed.

use super::error::WecsimError;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use std::path::Path;

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

/// Writes a kubeconfig as YAML, through a temporary file and a rename so that a kubectl
/// reading it while clusters come and go never sees half a file.
pub fn write(path: &Path, config: &Kubeconfig) -> Result<(), WecsimError> {
    let yaml = to_yaml(config)?;
    let io = |source| WecsimError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, yaml).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
